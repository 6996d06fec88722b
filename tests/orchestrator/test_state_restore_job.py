"""The real routing job keeps its state across a restart: RocksDB, incremental checkpoints, fixed uids.

Run once, let a message be taken and a checkpoint complete, cancel; start again from that checkpoint
(unclaimed state refused, as in production) and send a copy of the message: the restored dedupe state
knows it, so it becomes a `duplicate` event instead of being routed a second time. No model and no
agents: the model endpoint is a closed port, so routing the message ends in a routing dead letter.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid

import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from sdr_pipeline.contracts import AGENT_MESSAGES, DEAD_LETTERS, WORKFLOW_EVENTS, Envelope
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra.bus import KafkaBus
from sdr_pipeline.orchestrator import job
from sdr_pipeline.orchestrator.flink_env import make_env
from tests.conftest import free_port
from tests.router.conftest import REPO_ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.flink]


def _mine(bus: KafkaBus, message_id: str) -> tuple[list[dict], list[dict]]:
    found = {}
    for topic in (DEAD_LETTERS, WORKFLOW_EVENTS):
        values = [json.loads(record.value) for record in bus.read([topic], idle_timeout_s=1.0) if record.value]
        found[topic] = [value for value in values if value.get("message_id") == message_id]
    return found[DEAD_LETTERS], found[WORKFLOW_EVENTS]


def _run_until(settings, group: str, done, *, timeout_s: float = 60.0):
    """Run the job (resuming from the newest checkpoint, if any) until `done()` is true, then cancel it."""
    env = make_env(settings, checkpointing=True, extra=job.job_config(settings))
    job.build_job(env, settings, group_id=group)
    client = env.execute_async("state restore")
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not done():
            time.sleep(0.5)
    finally:
        client.cancel().result()


def test_dedupe_state_survives_a_restart_from_an_incremental_rocksdb_checkpoint(kafka, tmp_path):
    prompts = tmp_path / "prompts" / "router"
    prompts.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "prompts" / "router" / "v2.yaml", prompts)
    settings = kafka.model_copy(update={
        "state_dir": tmp_path, "prompts_dir": tmp_path / "prompts", "router_prompt_version": "v2",
        "router_policy": "llm", "llm_provider": "local", "llm_base_url": None, "llm_port": free_port(),
        "llm_max_attempts": 1, "llm_timeout_s": 5.0, "router_answer_attempts": 1, "flink_parallelism": 1,
        "flink_checkpoint_interval_ms": 1000,
        "redelivery_attempts": 0})  # the closed model port: a routing dead letter at once
    assert job.job_config(settings)["state.backend.type"] == "rocksdb"
    tag = uuid.uuid4().hex[:10]
    message = Envelope(lead_id=f"lead-{tag}", produced_by="web_form", lead={"name": "Ada", "company_name": tag})
    group = f"restore-{tag}"
    bus = KafkaBus(settings.bootstrap_servers, client_id=group)
    try:
        for attempt in Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.5), reraise=True,
                                retry=retry_if_exception_type(InfraError)):
            with attempt:
                bus.publish(AGENT_MESSAGES, message.to_json().encode(), key=message.lead_id)
        routed_at: list[float] = []

        def routed_and_checkpointed() -> bool:
            if not routed_at and _mine(bus, message.message_id)[0]:
                routed_at.append(time.time())
            newest = job.latest_checkpoint(settings)
            return bool(routed_at) and newest is not None and (newest / "_metadata").stat().st_mtime > routed_at[0] + 1

        _run_until(settings, group, routed_and_checkpointed)
        resume = job.latest_checkpoint(settings)
        assert routed_at and resume is not None, "the first run neither routed the message nor checkpointed after it"
        keys = {record.key for record in bus.read([DEAD_LETTERS], idle_timeout_s=1.0)
                if record.value and json.loads(record.value).get("message_id") == message.message_id}
        assert keys == {message.lead_id}, "every record the job writes keeps the lead id as its key"
        assert job.job_config(settings)["execution.state-recovery.ignore-unclaimed-state"] == "false"

        bus.publish(AGENT_MESSAGES, message.to_json().encode(), key=message.lead_id)  # a redelivered copy
        _run_until(settings, group, lambda: any(e["kind"] == "duplicate" for e in _mine(bus, message.message_id)[1]))
        letters, events = _mine(bus, message.message_id)
    finally:
        bus.close()
    assert [event["kind"] for event in events].count("duplicate") == 1, events
    assert len([letter for letter in letters if letter["stage"] == "routing"]) == 1, "the copy was routed again"
    # incremental RocksDB checkpoints keep their SST files in the job's shared/ folder (the heap backend writes none)
    shared = [path for path in (resume.parent / "shared").rglob("*") if path.is_file()]
    assert shared, f"no shared state files under {resume.parent}: not an incremental RocksDB checkpoint"
