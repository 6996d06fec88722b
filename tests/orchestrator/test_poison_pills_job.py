"""The real routing job against a real broker: poison pills become dead letters, a copy a duplicate,
and the job keeps routing what comes after them.

No model and no agents: the router's model endpoint is a closed port, so the valid message that follows
the pills ends as a routing dead letter, which is proof enough that the job is still running.
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
from sdr_pipeline.orchestrator.flink_env import make_env
from sdr_pipeline.orchestrator.job import build_job
from tests.conftest import free_port
from tests.router.conftest import REPO_ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.flink]


def _mine(bus: KafkaBus, tag: str) -> tuple[list[dict], list[dict]]:
    """Dead letters and workflow events that mention this run's tag, and tombstones' dead letters (which name
    nothing: a null value has no lead id, and the job reads values only)."""
    found = {}
    for topic in (DEAD_LETTERS, WORKFLOW_EVENTS):
        values = [json.loads(record.value) for record in bus.read([topic], idle_timeout_s=1.0) if record.value]
        found[topic] = [value for value in values if tag in json.dumps(value) or "tombstone" in value.get("reason", "")]
    return found[DEAD_LETTERS], found[WORKFLOW_EVENTS]


def test_poison_pills_are_dead_lettered_and_the_job_keeps_routing(kafka, tmp_path):
    prompts = tmp_path / "prompts" / "router"
    prompts.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "prompts" / "router" / "v2.yaml", prompts)  # no retrieved examples: nothing to learn
    settings = kafka.model_copy(update={
        "state_dir": tmp_path, "prompts_dir": tmp_path / "prompts", "router_prompt_version": "v2",
        "router_policy": "llm", "llm_provider": "local", "llm_base_url": None, "llm_port": free_port(),
        "llm_max_attempts": 1, "llm_timeout_s": 5.0, "router_answer_attempts": 1, "flink_parallelism": 1,
        "redelivery_attempts": 0})  # the closed model port: a routing dead letter at once, not a redelivery
    tag = uuid.uuid4().hex[:10]
    valid = Envelope(lead_id=f"lead-{tag}", produced_by="web_form", lead={"name": "Ada", "company_name": tag})
    deep = '{"lead_id": "deep-' + tag + '", "produced_by": "web_form", "context": ' + "[" * 5000 + "]" * 5000 + "}"
    huge = json.dumps({"lead_id": f"huge-{tag}", "produced_by": "web_form", "context": "x" * 900_000})
    bus = KafkaBus(settings.bootstrap_servers, client_id=f"pills-{tag}")
    try:
        # a broker just started may still be electing partition leaders
        for attempt in Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.5), reraise=True,
                                retry=retry_if_exception_type(InfraError)):
            with attempt:
                bus.publish(AGENT_MESSAGES, None, key=valid.lead_id)  # type: ignore[arg-type]  # a tombstone
        for value in (deep, huge, valid.to_json(), valid.to_json()):  # the last one: a redelivered copy
            bus.publish(AGENT_MESSAGES, value.encode(), key=valid.lead_id)
        env = make_env(settings)
        build_job(env, settings, group_id=f"pills-{tag}")
        client = env.execute_async("poison pills")
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                letters, events = _mine(bus, tag)
                if any(letter["stage"] == "routing" for letter in letters) and events:
                    break
                time.sleep(0.5)
        finally:
            client.cancel().result()
        letters, events = _mine(bus, tag)
    finally:
        bus.close()
    refused = {letter["raw_value"][:40]: letter["reason"] for letter in letters if letter["stage"] == "validation"}
    assert len(refused) == 3, (letters, events)
    assert "tombstone (null value) at agent_messages" in refused[""]
    assert "nested deeper than 32 levels" in refused[deep[:40]]
    assert "over the limit" in refused[huge[:40]]
    assert all(len(json.dumps(letter)) < 600_000 for letter in letters)
    assert [event["kind"] for event in events if event["message_id"] == valid.message_id] == ["duplicate"]
    [routed] = [letter for letter in letters if letter["stage"] == "routing"]
    assert routed["message_id"] == valid.message_id and routed["error_type"] == "LLMUnavailableError"
