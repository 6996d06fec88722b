"""Routing throughput and per-hop orchestration overhead of the Flink routing job.

A stand-in OpenAI-compatible endpoint answers every routing call after a fixed latency
(100 ms by default) and a no-op agent records when each message arrives, so what is
measured is the orchestration itself: Kafka, the Flink operators, the router code, the
async dispatch. Two phases per async capacity:

- latency: messages one at a time; overhead = agent arrival − publish time − model latency
- throughput: a burst of messages; routed messages per second from first publish to last arrival

Prints a table. Usage: .venv/bin/python benchmarks/routing_throughput.py [--messages 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from sdr_pipeline.contracts import AGENT_MESSAGES, TOPICS, Envelope, Lead
from sdr_pipeline.infra import process
from sdr_pipeline.infra.bus import KafkaBus, ensure_topics
from sdr_pipeline.infra.jars import fetch
from sdr_pipeline.infra.kafka import broker_spec, prepare_broker
from sdr_pipeline.infra.process import ProcessSpec, port_open
from sdr_pipeline.orchestrator import job
from sdr_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _standins(port: int, latency_s: float) -> ProcessSpec:
    return ProcessSpec(
        name="standins", argv=[sys.executable, "-m", "uvicorn", "benchmarks._standins:app", "--host", "127.0.0.1",
                               "--port", str(port), "--log-level", "warning", "--no-access-log"],
        host="127.0.0.1", port=port, port_setting="(benchmark)", health=lambda: port_open("127.0.0.1", port),
        env={"BENCH_LLM_LATENCY_S": str(latency_s)}, cwd=ROOT, start_timeout_s=30,
    )


def _arrivals(port: int) -> dict[str, float]:
    return httpx.get(f"http://127.0.0.1:{port}/arrivals", timeout=10).json()


def _publish(bus: KafkaBus, run: str, index: int) -> tuple[str, float]:
    envelope = Envelope(lead_id=f"bench-{run}-{index}", produced_by="web_form",
                        lead=Lead(name=f"Bench {index}", email=f"bench{index}@example.com", company_name="Bench Co"))
    started = time.time()
    bus.publish(AGENT_MESSAGES, envelope)
    return envelope.message_id, started


def _wait(port: int, ids: set[str], timeout_s: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = {k: v for k, v in _arrivals(port).items() if k in ids}
        if len(seen) == len(ids):
            return seen
        time.sleep(0.05)
    raise SystemExit(f"only {len(seen)}/{len(ids)} messages reached the agent within {timeout_s:.0f} s")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(base: Settings, port: int, capacity: int, *, messages: int, sequential: int, latency_s: float) -> dict:
    settings = base.model_copy(update={"dispatch_capacity": capacity,
                                       "state_dir": base.state_dir / f"capacity-{capacity}"})
    spec = job.process_spec(settings)
    started = time.monotonic()
    process.start(spec, settings)
    startup_s = time.monotonic() - started
    bus = KafkaBus(settings.bootstrap_servers, client_id="bench")
    run = f"c{capacity}-{int(time.time())}"
    try:
        warm_up, _ = _publish(bus, f"{run}-warm", 0)  # the job's tasks start after it reports ready
        _wait(port, {warm_up}, 120)
        overheads = []
        for index in range(sequential):  # one at a time: no queueing, only orchestration
            message_id, sent = _publish(bus, f"{run}-seq", index)
            arrived = _wait(port, {message_id}, 60)[message_id]
            overheads.append(arrived - sent - latency_s)
        burst = [_publish(bus, f"{run}-burst", index) for index in range(messages)]
        arrivals = _wait(port, {m for m, _ in burst}, 600)
        first = min(sent for _, sent in burst)
        throughput = messages / (max(arrivals.values()) - first)
    finally:
        bus.close()
        process.stop(spec.name, settings)
    return {"capacity": capacity, "startup_s": startup_s, "throughput": throughput,
            "p50_ms": 1000 * statistics.median(overheads), "p99_ms": 1000 * _percentile(overheads, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300, help="burst size per capacity")
    parser.add_argument("--sequential", type=int, default=40, help="one-at-a-time messages for the overhead")
    parser.add_argument("--capacities", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--latency", type=float, default=0.1, help="stand-in model latency in seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sdr-bench-") as tmp:
        port = _free_port()
        base = Settings(
            state_dir=Path(tmp), kafka_port=_free_port(), kafka_controller_port=_free_port(),
            llm_provider="openai", llm_base_url=f"http://127.0.0.1:{port}/v1", llm_api_key="bench", llm_model="bench",
            llm_cache=False, agents_port=port, router_policy="llm", budget_tokens_per_lead=10**9,
            prompts_dir=ROOT / "prompts",
        )
        fetch(base)
        prepare_broker(base)
        process.start(broker_spec(base), base)
        process.start(_standins(port, args.latency), base)
        try:
            ensure_topics(base.bootstrap_servers, TOPICS)
            rows = [measure(base, port, capacity, messages=args.messages, sequential=args.sequential,
                            latency_s=args.latency) for capacity in args.capacities]
        finally:
            process.stop("standins", base)
            process.stop("kafka", base)
    print(f"\nrouting job, stand-in model latency {args.latency * 1000:.0f} ms, no-op agent, "
          f"{args.messages}-message bursts, overhead over {args.sequential} one-at-a-time messages")
    print(f"{'capacity':>8} {'msgs/s':>8} {'overhead p50':>13} {'overhead p99':>13} {'job start':>10}")
    for row in rows:
        print(f"{row['capacity']:>8} {row['throughput']:>8.1f} {row['p50_ms']:>10.1f} ms {row['p99_ms']:>10.1f} ms "
              f"{row['startup_s']:>8.1f} s")


if __name__ == "__main__":
    main()
