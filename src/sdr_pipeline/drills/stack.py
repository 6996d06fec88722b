"""The stack a drill runs its fault against: a scratch one of its own, or the local one already up.

A scratch stack is the real thing on free ports in its own state folder — a Kafka broker with the
project's topics, the SMTP server, the agents, intake and the Flink routing job — with one part
swapped: the model is the stand-in (`drills.standin_model`), so a lead's whole journey takes
seconds and a drill judges the plumbing, not the prose. The local stack (`sdr-pipeline infra up
… agents intake router`) is driven as it is, with whatever model it runs.

This module composes parts from several packages (infra, agents, intake, orchestrator), as the CLI
does; only `drills` and `cli` sit above them.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sdr_pipeline.agents import service as agents_service
from sdr_pipeline.contracts.topics import TOPICS
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra import process, smtp
from sdr_pipeline.infra.bus import KafkaBus, ensure_topics
from sdr_pipeline.infra.jars import fetch
from sdr_pipeline.infra.kafka import broker_spec, prepare_broker
from sdr_pipeline.infra.process import ProcessSpec, http_ok
from sdr_pipeline.intake import service as intake_service
from sdr_pipeline.orchestrator import job
from sdr_pipeline.settings import Settings

__all__ = ["DrillStack", "local_stack", "scratch_stack"]

logger = logging.getLogger(__name__)

STANDIN = "standin-model"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _standin_spec(port: int) -> ProcessSpec:
    return ProcessSpec(
        name=STANDIN, argv=[sys.executable, "-m", "uvicorn", "sdr_pipeline.drills.standin_model:app",
                            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        host="127.0.0.1", port=port, port_setting="(drill stand-in)",
        health=lambda: http_ok(f"http://127.0.0.1:{port}/health"), start_timeout_s=90.0,
    )


@dataclass
class DrillStack:
    """A running stack and the handles a drill needs: its settings, a bus, and its processes by name."""

    settings: Settings
    """What every part of the stack runs with."""
    bus: KafkaBus
    model: str
    """Which model answers: the stand-in, or the local stack's own."""
    owned: bool = False
    """True for a scratch stack: the drill started it and stops it."""
    specs: dict[str, ProcessSpec] = field(default_factory=dict)

    @property
    def intake_url(self) -> str:
        return f"http://{self.settings.intake_host}:{self.settings.intake_port}"

    @property
    def agents_url(self) -> str:
        return f"http://{self.settings.agents_host}:{self.settings.agents_port}"

    def alive(self, name: str) -> bool:
        """True while the part's process runs (the routing job: while its process is up, whatever Flink says)."""
        return process.read_pid(self.settings, name) is not None

    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Send `signum` to the part's whole process group, as an out-of-memory killer or a power cut would."""
        pid = process.read_pid(self.settings, name)
        if pid is None:
            raise InfraError(name, "is not running, so there is nothing to kill",
                             fix=f"start it with `sdr-pipeline infra up {name}`")
        logger.info("drill: signal %d to %s (pid %d)", signum, name, pid)
        os.killpg(pid, signum)
        deadline = time.monotonic() + 15.0
        while signum == signal.SIGKILL and process.is_running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)

    def start_part(self, name: str) -> None:
        """Start a part again (after a kill or a stop) and wait until it is healthy."""
        if name == "router":
            job.clear_ready(self.settings)
        spec = self.specs.get(name) or {"router": job.process_spec, "agents": agents_service.process_spec,
                                        "intake": intake_service.process_spec, "smtp": smtp.process_spec,
                                        "kafka": broker_spec}[name](self.settings)
        process.start(spec, self.settings)

    def close(self) -> None:
        self.bus.close()


def drill_settings(base: Settings, state_dir: Path, *, policy: str) -> Settings:
    """`base` moved to free ports and `state_dir`, with the stand-in model and limits fit for a drill."""
    model_port = _free_port()
    return base.model_copy(update={
        "state_dir": state_dir, "kafka_bootstrap": None, "kafka_brokers": 1, "kafka_port": _free_port(),
        "kafka_controller_port": _free_port(), "smtp_port": _free_port(), "agents_port": _free_port(),
        "intake_port": _free_port(), "llm_provider": "openai", "llm_base_url": f"http://127.0.0.1:{model_port}/v1",
        "llm_model": "standin", "llm_cache": False, "llm_port": model_port, "router_policy": policy,
        "website_fetch": False, "flink_checkpoint_interval_ms": 2000, "outbox_poll_s": 2.0,
        "intake_rate_per_ip": "100000/minute", "intake_rate_per_address": "100000/minute",
        "prompts_dir": base.prompts_dir.resolve(), "budget_tokens_per_lead": 10**7, "budget_usd_per_lead": 100.0,
        "dispatch_secret": base.dispatch_secret, "inbound_webhook_secret": base.inbound_webhook_secret,
        # a schedule of seconds, not half an hour: an outage drill outlasts it in under a minute
        "redelivery_attempts": 3, "redelivery_initial_s": 4.0, "redelivery_max_s": 8.0,
        # an e-mail whose sender was killed mid-send is sent again after seconds, within that schedule
        "outbox_claim_timeout_s": 5.0, "smtp_timeout_s": 2.0,
        # a hung model or a lost SMTP server is noticed in seconds, and e-mails are retried in seconds
        "agents_llm_timeout_s": 8.0, "llm_timeout_s": 8.0, "outbox_retry_initial_s": 2.0, "outbox_retry_max_s": 4.0,
        "outbox_max_attempts": 20,
    })


@contextmanager
def scratch_stack(base: Settings, *, policy: str = "contract", keep: Path | None = None) -> Iterator[DrillStack]:
    """A whole stack of its own on free ports, with the stand-in model; stopped (and its state removed,
    unless `keep` names where to keep it) when the block ends."""
    with tempfile.TemporaryDirectory(prefix="sdr-drill-") as tmp:
        state = keep or Path(tmp)
        settings = drill_settings(base, state, policy=policy)
        model_port = settings.llm_port
        fetch(settings)
        prepare_broker(settings)
        specs = {"kafka": broker_spec(settings), "smtp": smtp.process_spec(settings), STANDIN: _standin_spec(model_port),
                 "agents": agents_service.process_spec(settings), "intake": intake_service.process_spec(settings),
                 "router": job.process_spec(settings)}
        started: list[str] = []
        bus = None
        try:
            for name, spec in specs.items():
                logger.info("drill stack: starting %s", name)
                process.start(spec, settings)
                started.append(name)
                if name == "kafka":
                    ensure_topics(settings.bootstrap_servers, TOPICS)
                    bus = KafkaBus(settings.bootstrap_servers, client_id="sdr-drill")
            assert bus is not None
            stack = DrillStack(settings, bus, model="stand-in (sdr_pipeline.drills.standin_model)", owned=True,
                               specs=specs)
            yield stack
        finally:
            if bus is not None:
                bus.close()
            for name in reversed(started):
                process.stop(name, settings)


@contextmanager
def local_stack(settings: Settings) -> Iterator[DrillStack]:
    """The local stack already running (`sdr-pipeline infra up` plus agents, intake and router)."""
    for name in ("kafka", "agents", "intake", "router"):
        if process.read_pid(settings, name) is None:
            raise InfraError(name, "is not running, and a drill on the local stack needs it",
                             fix="run `sdr-pipeline infra up kafka mlflow smtp llama-server agents intake router`, "
                                 "or drop `--local` to let the drill start a scratch stack of its own")
    bus = KafkaBus(settings.bootstrap_servers, client_id="sdr-drill")
    try:
        yield DrillStack(settings, bus, model=f"the local stack's ({settings.llm_provider}: {settings.llm_model})")
    finally:
        bus.close()
