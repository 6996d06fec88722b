"""The routing job on a real Flink session cluster: a JobManager and two TaskManagers from the PyFlink
distribution's scripts, the job submitted with `flink run` at parallelism 2, stopped with a savepoint.

No model and no agents (as in test_poison_pills_job.py): the model endpoint is a closed port and redeliveries
are off, so a valid message ends as a routing dead letter, which proves the job on the cluster reads, routes
and writes. The first tests check the cluster's config and the resume rule without starting anything.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from sdr_pipeline.cli import _stack
from sdr_pipeline.contracts import AGENT_MESSAGES, DEAD_LETTERS, Envelope
from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.infra import flink_cluster, process, stack
from sdr_pipeline.infra.bus import KafkaBus
from sdr_pipeline.orchestrator import job
from sdr_pipeline.settings import Settings
from tests.conftest import free_port, private_broker
from tests.router.conftest import REPO_ROOT


def _cluster_settings(state: Path, **overrides: object) -> Settings:
    return Settings(state_dir=state, flink_mode="cluster", flink_port=free_port(), flink_rpc_port=free_port(),
                    **overrides)


def test_cluster_mode_runs_the_job_at_parallelism_two_unless_told_otherwise(tmp_path):
    assert Settings(state_dir=tmp_path).flink_parallelism == 1
    assert Settings(state_dir=tmp_path, flink_mode="cluster").flink_parallelism == 2
    assert Settings(state_dir=tmp_path, flink_mode="cluster", flink_parallelism=4).flink_parallelism == 4


def test_the_mini_cluster_has_no_cluster_processes_and_keeps_its_router(tmp_path):
    settings = Settings(state_dir=tmp_path)
    assert flink_cluster.cluster_specs(settings) == []
    assert job.process_spec(settings).argv == [sys.executable, "-m", "sdr_pipeline.orchestrator.job"]


def test_the_cluster_config_binds_loopback_and_runs_our_interpreter(tmp_path):
    settings = _cluster_settings(tmp_path)
    config = yaml.safe_load((flink_cluster.prepare_cluster(settings) / "config.yaml").read_text())
    assert config["rest.port"] == settings.flink_port and config["rest.bind-address"] == "127.0.0.1"
    assert config["jobmanager.rpc.port"] == settings.flink_rpc_port
    assert config["python.executable"] == config["python.client.executable"] == sys.executable
    assert config["taskmanager.numberOfTaskSlots"] == 2 and config["parallelism.default"] == 2
    assert config["execution.checkpointing.savepoint-dir"] == flink_cluster.savepoint_dir(settings).as_uri()
    assert str(tmp_path.resolve()) in config["execution.checkpointing.savepoint-dir"]
    assert "--add-opens=java.base/java.lang=ALL-UNNAMED" in config["env.java.opts.all"], "the wheel's defaults stay"
    specs = flink_cluster.cluster_specs(settings)
    assert [spec.name for spec in specs] == ["jobmanager", "taskmanager-1", "taskmanager-2"]
    assert specs[0].argv[-1] == "start-foreground" and specs[0].port == settings.flink_port


def test_a_taken_rpc_port_is_refused_with_the_setting_to_change(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = _cluster_settings(tmp_path).model_copy(update={"flink_rpc_port": taken.getsockname()[1]})
        with pytest.raises(UserError, match="SDR_FLINK_RPC_PORT"):
            flink_cluster.prepare_cluster(settings)


def _completed(folder: Path, mtime: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "_metadata").write_bytes(b"x")
    os.utime(folder / "_metadata", (mtime, mtime))
    return folder


def test_a_start_resumes_from_the_newer_of_checkpoint_and_savepoint(tmp_path):
    settings = _cluster_settings(tmp_path)
    now = time.time()
    checkpoint = _completed(job.checkpoint_dir(settings) / "job-a" / "chk-7", now - 60)
    savepoint = _completed(flink_cluster.savepoint_dir(settings) / "savepoint-abc-1", now - 30)
    assert job.job_config(settings)["execution.state-recovery.path"] == savepoint.as_uri()
    newer = _completed(job.checkpoint_dir(settings) / "job-b" / "chk-2", now)  # the resumed job checkpointed since
    assert job.job_config(settings)["execution.state-recovery.path"] == newer.as_uri()
    assert checkpoint.exists()


def _dead_letter(bus: KafkaBus, message_id: str, timeout_s: float) -> dict:
    import json

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in bus.read([DEAD_LETTERS], idle_timeout_s=1.0):
            letter = json.loads(record.value) if record.value else {}
            if letter.get("message_id") == message_id:
                return letter
        time.sleep(1.0)
    raise AssertionError(f"no dead letter for {message_id} within {timeout_s:.0f} s")


@pytest.mark.flink
@pytest.mark.kafka
@pytest.mark.slow
def test_the_routing_job_runs_on_the_session_cluster_and_stops_with_a_savepoint(tmp_path):
    prompts = tmp_path / "prompts" / "router"
    prompts.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "prompts" / "router" / "v2.yaml", prompts)  # no retrieved examples: nothing to learn
    with private_broker(tmp_path / "kafka") as broker:
        settings = broker.model_copy(update={
            "state_dir": tmp_path, "flink_mode": "cluster", "flink_parallelism": 2, "flink_port": free_port(),
            "flink_rpc_port": free_port(), "prompts_dir": tmp_path / "prompts", "router_prompt_version": "v2",
            "router_policy": "contract", "llm_provider": "local", "llm_base_url": None, "llm_port": free_port(),
            "llm_max_attempts": 1, "llm_timeout_s": 5.0, "router_answer_attempts": 1, "redelivery_attempts": 0,
            "mlflow_port": free_port(), "job_prompt_lookup_timeout_s": 1.0, "flink_checkpoint_interval_ms": 2000})
        base = flink_cluster.rest_url(settings)
        bus = KafkaBus(settings.bootstrap_servers, client_id="cluster-test")
        try:
            started = time.monotonic()
            stack.up(settings, stack.INFRA_PARTS, ["flink"])
            cluster_s = time.monotonic() - started
            stack.up(settings, _stack.SERVICES, ["router"])  # `flink run`, attached; healthy once every task runs
            job_s = time.monotonic() - started - cluster_s
            print(f"\ncluster healthy in {cluster_s:.1f} s, job's tasks all running {job_s:.1f} s later")

            running = flink_cluster.job_status(settings)
            assert running is not None and running.state == "RUNNING", flink_cluster.status_row(settings)
            assert running.parallelism == 2 and running.taskmanagers == 2
            vertices = httpx.get(f"{base}/jobs/{running.job_id}", timeout=5).json()["vertices"]
            used = {tm["taskmanager-id"] for vertex in vertices for tm in
                    httpx.get(f"{base}/jobs/{running.job_id}/vertices/{vertex['id']}/taskmanagers",
                              timeout=5).json()["taskmanagers"]}
            assert used == {"taskmanager-1", "taskmanager-2"}, "one subtask of each operator on each TaskManager"

            tag = uuid.uuid4().hex[:10]
            envelope = Envelope(lead_id=f"lead-{tag}", produced_by="web_form", lead={"name": "Ada", "company_name": tag})
            for attempt in Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.5), reraise=True,
                                    retry=retry_if_exception_type(InfraError)):
                with attempt:
                    bus.publish(AGENT_MESSAGES, envelope)
            letter = _dead_letter(bus, envelope.message_id, timeout_s=90)
            assert letter["stage"] == "routing" and letter["error_type"] == "LLMUnavailableError"
            row = flink_cluster.status_row(settings)
            assert row.healthy and "parallelism 2" in row.detail and "2 TaskManagers" in row.detail, row

            stopped = stack.down(settings, _stack.SERVICES, ["router"])  # stop-with-savepoint, then the client
            assert stopped in ([], ["router"])
            savepoint = flink_cluster.latest_savepoint(settings)
            assert savepoint is not None and (savepoint / "_metadata").stat().st_size > 0
            states = {j["jid"]: j["state"] for j in httpx.get(f"{base}/jobs/overview", timeout=5).json()["jobs"]}
            assert states == {running.job_id: "FINISHED"}, "stopped with its savepoint, not cancelled"
            assert job.job_config(settings)["execution.state-recovery.path"] == savepoint.as_uri(), \
                "the next start resumes from the savepoint"
            assert process.read_pid(settings, "router") is None
        finally:
            bus.close()
            stack.down(settings, _stack.SERVICES, ["router"])
            stack.down(settings, stack.INFRA_PARTS, ["flink"])
        assert all(process.read_pid(settings, name) is None
                   for name in ("jobmanager", "taskmanager-1", "taskmanager-2"))
