"""The review queue on the in-memory bus: what waits, a signed resolution routed on, the label kept."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from sdr_pipeline.contracts import AGENT_MESSAGES, NEEDS_REVIEW, Envelope, RoutingDecision
from sdr_pipeline.contracts.review import REVIEW_FIELD, ReviewVerdict
from sdr_pipeline.contracts.workflow import DispatchTask
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.orchestrator.review import pending, resolve, resolved_path
from sdr_pipeline.settings import Settings


def _waiting(bus: InMemoryBus) -> Envelope:
    envelope = Envelope(lead_id="lead-r", produced_by="inbound_email", hop=5, context="Maybe later? Or a demo?")
    decision = RoutingDecision(message_id=envelope.message_id, lead_id="lead-r", hop=5, agent="nurture_campaign",
                               confidence=0.31, reason="unsure", policy="cascade", prompt_name="router",
                               prompt_version="v6", prompt_hash="0" * 64, candidates=["active_outreach"],
                               llm_called=True, latency_s=1.0, needs_review=True,
                               scores={"nurture_campaign": 0.31, "active_outreach": 0.29})
    bus.publish(NEEDS_REVIEW, DispatchTask(envelope=envelope, decision=decision, raw_value=envelope.to_json()),
                key="lead-r")
    return envelope


def test_a_resolution_is_signed_routed_on_and_kept_as_a_labelled_example(tmp_path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path, review_secret=SecretStr("k"))
    bus = InMemoryBus()
    envelope = _waiting(bus)
    assert [item.message_id for item in pending(bus, settings)] == [envelope.message_id]

    example = resolve(bus, settings, message_id=envelope.message_id, agent="active_outreach", reviewer="sam",
                      note="asks for a demo")
    [record] = bus.read([AGENT_MESSAGES])
    published = json.loads(record.value)
    assert record.key == "lead-r" and published["message_id"] == envelope.message_id
    assert ReviewVerdict.model_validate(published[REVIEW_FIELD]).valid_for(envelope.message_id, "k")
    assert example.expected_agent == "active_outreach" and "review" in example.tags
    assert json.loads(resolved_path(settings).read_text())["id"] == f"review-{envelope.message_id}"
    assert pending(bus, settings) == [], "a resolved message no longer waits"
    with pytest.raises(UserError, match="not waiting for review"):
        resolve(bus, settings, message_id=envelope.message_id, agent="none", reviewer="sam")


def test_without_a_secret_or_with_an_unknown_agent_nothing_is_published(tmp_path) -> None:
    bus = InMemoryBus()
    envelope = _waiting(bus)
    with pytest.raises(UserError, match="SDR_REVIEW_SECRET"):
        resolve(bus, Settings(_env_file=None, state_dir=tmp_path), message_id=envelope.message_id, agent="none",
                reviewer="sam")
    with pytest.raises(UserError, match="unknown agent"):
        resolve(bus, Settings(_env_file=None, state_dir=tmp_path, review_secret=SecretStr("k")),
                message_id=envelope.message_id, agent="refund_desk", reviewer="sam")
    assert bus.read([AGENT_MESSAGES]) == []
