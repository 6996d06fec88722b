"""Cold start of the routing job: on its own mini-cluster vs. on the Flink session cluster.

Per run, on a private broker (no model, no agents: the model endpoint is a closed port and redeliveries are
off, so the probe message published before the start ends as a routing dead letter):

- mini: start the `router` process (the job on a mini-cluster inside it) → healthy (Flink says RUNNING) →
  the probe's dead letter is on `dead_letters` (the job has routed and committed a record);
- cluster: start the `flink` part (JobManager + two TaskManagers) → healthy; then the `router` part
  (`flink run`, attached) → healthy (every task RUNNING) → the probe's dead letter; then `infra down router`
  (stop-with-savepoint) and a second start that resumes from the savepoint.

Memory is the resident set of every process involved (JVMs and Python workers), taken once the probe is
through. Prints a table. Usage: .venv/bin/python benchmarks/flink_cold_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from sdr_pipeline.cli import _stack
from sdr_pipeline.contracts import AGENT_MESSAGES, DEAD_LETTERS, TOPICS, Envelope
from sdr_pipeline.infra import process, stack
from sdr_pipeline.infra.bus import KafkaBus, ensure_topics
from sdr_pipeline.infra.jars import fetch
from sdr_pipeline.infra.kafka import broker_spec, prepare_broker
from sdr_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(settings: Settings, names: list[str]) -> float:
    """Resident memory of the named supervised processes and all their children (Python workers), in MB."""
    total = 0
    for name in names:
        pid = process.read_pid(settings, name)
        if pid is None:
            continue
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 1e6


def _publish_probe(bus: KafkaBus, tag: str) -> str:
    envelope = Envelope(lead_id=f"cold-{tag}", produced_by="web_form", lead={"name": "Probe", "company_name": tag})
    bus.publish(AGENT_MESSAGES, envelope)
    return envelope.message_id


def _wait_dead_letter(bus: KafkaBus, message_id: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in bus.read([DEAD_LETTERS], idle_timeout_s=0.5):
            if record.value and json.loads(record.value).get("message_id") == message_id:
                return
        time.sleep(0.5)
    raise SystemExit(f"no dead letter for the probe {message_id} within {timeout_s:.0f} s")


def _run_settings(broker: Settings, state: Path, mode: str) -> Settings:
    state.mkdir(parents=True)
    prompts = state / "prompts" / "router"
    prompts.mkdir(parents=True)
    shutil.copy(ROOT / "prompts" / "router" / "v2.yaml", prompts)  # no retrieved examples: nothing to learn
    return broker.model_copy(update={
        "state_dir": state, "flink_mode": mode, "flink_parallelism": 2 if mode == "cluster" else 1,
        "flink_port": _free_port(), "flink_rpc_port": _free_port(), "prompts_dir": state / "prompts",
        "router_prompt_version": "v2", "router_policy": "contract", "llm_provider": "local", "llm_base_url": None,
        "llm_port": _free_port(), "llm_max_attempts": 1, "llm_timeout_s": 5.0, "router_answer_attempts": 1,
        "redelivery_attempts": 0, "mlflow_port": _free_port(), "job_prompt_lookup_timeout_s": 1.0})


def _mini(broker: Settings, bus: KafkaBus, state: Path, tag: str) -> dict[str, float]:
    settings = _run_settings(broker, state, "mini")
    probe = _publish_probe(bus, tag)
    started = time.monotonic()
    try:
        stack.up(settings, _stack.SERVICES, ["router"])
        healthy = time.monotonic() - started
        _wait_dead_letter(bus, probe)
        first = time.monotonic() - started
        return {"job healthy": healthy, "first record": first, "rss MB": _rss_mb(settings, ["router"])}
    finally:
        stack.down(settings, _stack.SERVICES, ["router"])


def _cluster(broker: Settings, bus: KafkaBus, state: Path, tag: str) -> dict[str, float]:
    settings = _run_settings(broker, state, "cluster")
    members = ["jobmanager", "taskmanager-1", "taskmanager-2"]
    try:
        started = time.monotonic()
        stack.up(settings, stack.INFRA_PARTS, ["flink"])
        cluster = time.monotonic() - started
        probe = _publish_probe(bus, tag)
        started = time.monotonic()
        stack.up(settings, _stack.SERVICES, ["router"])
        healthy = time.monotonic() - started
        _wait_dead_letter(bus, probe)
        first = time.monotonic() - started
        rss = _rss_mb(settings, [*members, "router"])
        started = time.monotonic()
        stack.down(settings, _stack.SERVICES, ["router"])
        savepoint = time.monotonic() - started
        started = time.monotonic()
        stack.up(settings, _stack.SERVICES, ["router"])
        resumed = time.monotonic() - started
        return {"cluster healthy": cluster, "job healthy": healthy, "first record": first, "rss MB": rss,
                "stop w/ savepoint": savepoint, "resume healthy": resumed}
    finally:
        stack.down(settings, _stack.SERVICES, ["router"])
        stack.down(settings, stack.INFRA_PARTS, ["flink"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="flink-cold-start-"))
    broker = Settings(state_dir=root / "broker", kafka_port=_free_port(), kafka_controller_port=_free_port(),
                      kafka_brokers=1, kafka_bootstrap=None)
    fetch(broker)
    prepare_broker(broker)
    process.start(broker_spec(broker), broker)
    bus = KafkaBus(broker.bootstrap_servers, client_id="cold-start")
    results: dict[str, list[dict[str, float]]] = {"mini": [], "cluster": []}
    try:
        ensure_topics(broker.bootstrap_servers, TOPICS)
        for run in range(args.runs):
            for mode, measure in (("mini", _mini), ("cluster", _cluster)):
                figures = measure(broker, bus, root / f"{mode}-{run}", f"{mode}-{run}-{time.time_ns()}")
                results[mode].append(figures)
                print(f"run {run + 1} {mode:<7} " + " · ".join(f"{k} {v:.1f}" for k, v in figures.items()), flush=True)
    finally:
        bus.close()
        process.stop("kafka", broker)
    print(f"\nmedian of {args.runs} runs (seconds; memory in MB)")
    for mode, runs in results.items():
        keys = runs[0].keys() if runs else []
        print(f"{mode:<8} " + " · ".join(f"{k} {statistics.median(r[k] for r in runs):.1f}" for k in keys))


if __name__ == "__main__":
    main()
