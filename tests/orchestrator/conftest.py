"""The whole loop for the routing job's tests: a private broker, SMTP, the agents service behind a
failure-injecting stand-in, the intake service and the Flink routing job, all real processes."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from sdr_pipeline.agents import service as agents_service
from sdr_pipeline.infra import process, smtp
from sdr_pipeline.infra.bus import KafkaBus
from sdr_pipeline.infra.process import ProcessSpec, http_ok
from sdr_pipeline.intake import service as intake_service
from sdr_pipeline.orchestrator import job
from sdr_pipeline.settings import Settings
from tests.conftest import free_port, private_broker




def _flaky_spec(settings: Settings, port: int) -> ProcessSpec:
    return ProcessSpec(
        name="flaky-agents", argv=[sys.executable, "-m", "uvicorn", "tests.orchestrator._flaky_agents:app",
                                   "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        host="127.0.0.1", port=port, port_setting="(test)", health=lambda: http_ok(f"http://127.0.0.1:{port}/health"),
        env={"SDR_TEST_UPSTREAM": f"http://{settings.agents_host}:{settings.agents_port}"}, start_timeout_s=30,
    )


@dataclass
class RoutingStack:
    settings: Settings
    """What the agents, intake and SMTP run with."""
    router: Settings
    """What the routing job runs with (dispatching through the failure-injecting stand-in)."""
    bus: KafkaBus

    def records(self, topic: str, lead_id: str | None = None) -> list[dict]:
        """Every JSON object on `topic` (for `lead_id`); the malformed messages tests publish are skipped."""
        values = []
        for record in self.bus.read([topic], idle_timeout_s=1.0):
            try:
                values.append(json.loads(record.value))
            except ValueError:
                continue
        return [v for v in values if isinstance(v, dict) and (lead_id is None or v.get("lead_id") == lead_id)]

    def wait_for(self, topic: str, predicate: Callable[[dict], bool], *, timeout_s: float = 240.0) -> dict:
        """The first record on `topic` matching `predicate`, polling until `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for value in self.records(topic):
                if predicate(value):
                    return value
            time.sleep(1.0)
        logs = {name: process.log_tail(self.settings, name, lines=15) for name in ("agents", "router")}
        raise AssertionError(f"nothing matched on {topic} within {timeout_s:.0f} s; log tails: {logs}")

    def restart_router(self, *, kill: bool) -> None:
        if kill:
            pid = process.read_pid(self.router, "router")
            assert pid is not None
            import os
            import signal

            os.killpg(pid, signal.SIGKILL)
            time.sleep(1.0)
        else:
            process.stop("router", self.router)
        job.clear_ready(self.router)
        process.start(job.process_spec(self.router), self.router)


@pytest.fixture(scope="module")
def routing_stack(tmp_path_factory: pytest.TempPathFactory, llm_server_qwen: Settings) -> Iterator[RoutingStack]:
    state = tmp_path_factory.mktemp("routing-stack")
    with private_broker(state / "kafka") as broker:
        settings = broker.model_copy(update={
            "state_dir": state, "llm_host": llm_server_qwen.llm_host, "llm_port": llm_server_qwen.llm_port,
            "llm_model": llm_server_qwen.llm_model, "llm_provider": "local", "llm_base_url": None,
            "llm_timeout_s": 600.0, "website_fetch": False,
            "smtp_port": free_port(), "agents_port": free_port(), "intake_port": free_port(),
            "max_hops": 8, "flink_checkpoint_interval_ms": 2000,
            # seconds, not half an hour: the agent-down test waits for the dead letter after the schedule
            "redelivery_attempts": 2, "redelivery_initial_s": 3.0, "redelivery_max_s": 5.0,
        })
        router = settings.model_copy(update={"agents_port": free_port()})
        specs = [smtp.process_spec(settings), agents_service.process_spec(settings),
                 intake_service.process_spec(settings), _flaky_spec(settings, router.agents_port),
                 job.process_spec(router)]
        bus = KafkaBus(settings.bootstrap_servers, client_id="routing-tests")
        try:
            for spec in specs:
                process.start(spec, router if spec.name == "router" else settings)
            yield RoutingStack(settings, router, bus)
        finally:
            bus.close()
            process.stop("router", router)
            for spec in reversed(specs[:-1]):
                process.stop(spec.name, settings)
