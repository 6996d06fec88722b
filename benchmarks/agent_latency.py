"""Per-agent answer time and per-decision routing time, read from a stack's topics.

Run `make demo` (or any traffic through the routing job) first; this reads `workflow_events`
and `routing_decisions` from the configured broker and prints, per agent, how long the agent
took to answer a dispatch (all attempts included: what the job waited for) and, per chosen
agent, how long the router took to decide.

    .venv/bin/python benchmarks/agent_latency.py
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict

from rich.console import Console
from rich.table import Table

from sdr_pipeline.contracts import ROUTING_DECISIONS, WORKFLOW_EVENTS
from sdr_pipeline.infra.bus import KafkaBus, broker_ready
from sdr_pipeline.settings import Settings


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1] if len(values) > 1 else values[0]


def _table(title: str, samples: dict[str, list[float]]) -> Table:
    table = Table(title=title)
    for column in ("agent", "n", "median", "p95", "max"):
        table.add_column(column, justify="left" if column == "agent" else "right")
    for agent, values in sorted(samples.items()):
        table.add_row(agent, str(len(values)), f"{statistics.median(values):.1f} s", f"{_quantile(values, 0.95):.1f} s",
                      f"{max(values):.1f} s")
    return table


def main() -> None:
    settings = Settings()
    console = Console()
    if not broker_ready(settings.bootstrap_servers):
        console.print(f"[red]no Kafka broker at {settings.bootstrap_servers}[/] — run `make demo` first")
        raise SystemExit(1)
    bus = KafkaBus(settings.bootstrap_servers, client_id="sdr-agent-latency")
    try:
        records = bus.read([WORKFLOW_EVENTS, ROUTING_DECISIONS], idle_timeout_s=3.0)
    finally:
        bus.close()
    answers: dict[str, list[float]] = defaultdict(list)
    decisions: dict[str, list[float]] = defaultdict(list)
    for record in records:
        try:
            data = json.loads(record.value)
        except ValueError:
            continue
        if record.topic == WORKFLOW_EVENTS and data.get("kind") == "dispatched":
            seconds = (data.get("figures") or {}).get("agent_s")
            if seconds is not None:
                answers[data["agent"]].append(seconds)
        elif record.topic == ROUTING_DECISIONS:
            key = f"{data['agent']} ({'LLM' if data['llm_called'] else 'contract only'})"
            decisions[key].append(data["latency_s"])
    if not answers:
        console.print("no dispatch with a recorded answer time yet — run `make demo` first")
        raise SystemExit(1)
    console.print(_table("agent answer time per dispatch (retries included)", answers))
    console.print(_table("router decision time per chosen agent", decisions))


if __name__ == "__main__":
    main()
