"""The routing job end to end: real broker, real Flink job, the agents service, a local model, SMTP.

The agents write with the default local model (Qwen2.5-Coder-1.5B); the job runs the default
routing configuration (the cascade with prompt v6), as `make demo` does. Every test uses its
own lead, so the tests share one stack.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from sdr_pipeline.agents import service as agents_service
from sdr_pipeline.contracts import (
    AGENT_MESSAGES,
    DEAD_LETTERS,
    ROUTER_CONTROL,
    ROUTING_DECISIONS,
    WORKFLOW_EVENTS,
    Envelope,
)
from sdr_pipeline.contracts.decision import ControlMessage
from sdr_pipeline.infra import process
from sdr_pipeline.infra.smtp import read_mailbox

pytestmark = [pytest.mark.kafka, pytest.mark.flink, pytest.mark.llm, pytest.mark.slow, pytest.mark.e2e]

FINISHED = ("ended", "limit")


def _lead(name: str) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"name": name, "email": f"{name.split()[0].lower()}.{tag}@acme-{tag}.example",
            "company_name": f"Acme {tag}", "job_title": "Head of Data",
            "project_description": "We need real-time streaming of sensor data; budget approved, call next week."}


def _submit(stack, lead: dict[str, str]) -> str:
    url = f"http://{stack.settings.intake_host}:{stack.settings.intake_port}/api/leads"
    response = httpx.post(url, json=lead, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["lead_id"]


def _ended(stack, lead_id: str, timeout_s: float = 420.0) -> dict:
    return stack.wait_for(WORKFLOW_EVENTS, lambda e: e.get("lead_id") == lead_id and e["kind"] in FINISHED,
                          timeout_s=timeout_s)


def _mails_to(stack, address: str) -> list:
    return [mail for mail in read_mailbox(stack.settings) if address in mail["To"]]


def test_a_web_form_lead_flows_to_sent_emails_and_ends(routing_stack):
    lead = _lead("Grace Hopper")
    lead_id = _submit(routing_stack, lead)
    event = _ended(routing_stack, lead_id)
    assert event["kind"] == "ended", event
    path = [d["agent"] for d in routing_stack.records(ROUTING_DECISIONS, lead_id)]
    assert path[:2] == ["lead_ingestion", "lead_scoring"]
    assert path[2] in ("active_outreach", "nurture_campaign")
    assert path[3:] == ["send_email", "none"]
    drafts = 1 if path[2] == "active_outreach" else 3
    reports = [m for m in routing_stack.records(AGENT_MESSAGES, lead_id) if m["produced_by"] == "send_email"]
    assert len(reports) == 1
    sent = reports[0]["context"]["sent_count"]
    assert sent + reports[0]["context"]["scheduled_count"] == drafts
    assert len(_mails_to(routing_stack, lead["email"])) == sent, "one e-mail per sent draft, none twice"


def test_a_malformed_message_is_dead_lettered_and_the_job_keeps_running(routing_stack):
    marker = uuid.uuid4().hex
    routing_stack.bus.publish(AGENT_MESSAGES, f'{{"broken": "{marker}"'.encode(), key="garbage")
    letter = routing_stack.wait_for(DEAD_LETTERS, lambda d: marker in d["raw_value"], timeout_s=60)
    assert letter["stage"] == "validation" and "JSON" in letter["reason"]
    # still routing: a message over the hop limit is handled right after
    late = Envelope(lead_id=f"late-{marker}", hop=routing_stack.router.max_hops, produced_by="web_form")
    routing_stack.bus.publish(AGENT_MESSAGES, late)
    event = routing_stack.wait_for(WORKFLOW_EVENTS, lambda e: e.get("lead_id") == late.lead_id, timeout_s=60)
    assert event["kind"] == "limit" and event["limit"] == "hops"


def test_a_lead_stops_at_the_hop_limit_after_a_real_hop(routing_stack):
    max_hops = routing_stack.router.max_hops
    profile = {"company_summary": "Makes sensors.", "industry": "Manufacturing", "fit_assessment": "Good fit."}
    envelope = Envelope(lead_id=f"hops-{uuid.uuid4().hex[:8]}", hop=max_hops - 1, produced_by="lead_ingestion",
                        lead=_lead("Hop Limit"), context=profile)
    routing_stack.bus.publish(AGENT_MESSAGES, envelope)
    event = _ended(routing_stack, envelope.lead_id, timeout_s=240)
    assert event["limit"] == "hops" and event["figures"]["hop"] == max_hops
    assert [d["agent"] for d in routing_stack.records(ROUTING_DECISIONS, envelope.lead_id)] == ["lead_scoring"]


def test_an_agent_failing_twice_is_retried_and_answers_once(routing_stack):
    lead_id = _submit(routing_stack, _lead("Flaky Fred"))
    routing_stack.wait_for(WORKFLOW_EVENTS, lambda e: e.get("lead_id") == lead_id and e["kind"] == "dispatched"
                           and e["agent"] == "lead_ingestion", timeout_s=240)
    event = next(e for e in routing_stack.records(WORKFLOW_EVENTS, lead_id) if e["kind"] == "dispatched")
    assert event["figures"]["attempts"] == 3
    routing_stack.wait_for(AGENT_MESSAGES, lambda m: m.get("lead_id") == lead_id and m["produced_by"] == "lead_ingestion")
    outputs = [m for m in routing_stack.records(AGENT_MESSAGES, lead_id) if m["produced_by"] == "lead_ingestion"]
    assert len(outputs) == 1


def test_an_agent_that_stays_down_sends_the_message_to_dead_letters(routing_stack):
    process.stop("agents", routing_stack.settings)
    try:
        lead_id = _submit(routing_stack, _lead("Down Dora"))
        letter = routing_stack.wait_for(DEAD_LETTERS, lambda d: d.get("lead_id") == lead_id, timeout_s=180)
        assert letter["stage"] == "dispatch" and letter["agent"] == "lead_ingestion"
        assert "3 attempt" in letter["reason"] and "after 2 redeliveries" in letter["reason"]
        waits = [e for e in routing_stack.records(WORKFLOW_EVENTS, lead_id) if e["kind"] == "retrying"]
        assert [e["figures"]["redelivery"] for e in waits] == [1, 2], "set aside twice before the dead letter"
    finally:
        process.start(agents_service.process_spec(routing_stack.settings), routing_stack.settings)


def test_a_prompt_switch_on_router_control_takes_effect(routing_stack):
    routing_stack.bus.publish(ROUTER_CONTROL, ControlMessage(prompt="router", version="v1"), key="router")
    routing_stack.wait_for(WORKFLOW_EVENTS, lambda e: e["kind"] == "prompt_switched" and e["figures"]["version"] == "v1",
                           timeout_s=60)
    lead_id = _submit(routing_stack, _lead("Switch Sam"))
    decision = routing_stack.wait_for(ROUTING_DECISIONS, lambda d: d["lead_id"] == lead_id, timeout_s=120)
    assert decision["prompt_version"] == "v1"


def test_killing_the_job_mid_flight_loses_no_lead_and_sends_no_email_twice(routing_stack):
    lead = _lead("Crash Carla")
    lead_id = _submit(routing_stack, lead)
    routing_stack.wait_for(ROUTING_DECISIONS, lambda d: d["lead_id"] == lead_id and d["agent"] == "lead_scoring",
                           timeout_s=300)
    routing_stack.restart_router(kill=True)
    event = _ended(routing_stack, lead_id, timeout_s=480)
    assert event["kind"] == "ended", event
    reports = [m for m in routing_stack.records(AGENT_MESSAGES, lead_id) if m["produced_by"] == "send_email"]
    assert len({m["message_id"] for m in reports}) == 1, "send_email produced one report, replays deduplicated"
    sent = reports[0]["context"]["sent_count"]
    assert len(_mails_to(routing_stack, lead["email"])) == sent


def test_a_drifted_draft_reaches_send_email_and_a_junk_lead_ends_at_none(routing_stack):
    """No lead ends by elimination: a draft with another team's keys is routed on (and flagged off-contract),
    while a junk web-form lead is ended by a decision with its reason."""
    lead = _lead("Drift Dana")
    draft = Envelope(lead_id=f"drift-{uuid.uuid4().hex[:8]}", hop=3, produced_by="active_outreach", lead=lead,
                     context={"emailSubject": "Streaming your sensor data",
                              "emailBody": f"Hi Dana, thanks for your note about {lead['company_name']}. "
                                           "Would a 20-minute call next Tuesday work?"})
    routing_stack.bus.publish(AGENT_MESSAGES, draft)
    decision = routing_stack.wait_for(ROUTING_DECISIONS, lambda d: d["lead_id"] == draft.lead_id, timeout_s=180)
    assert decision["agent"] == "send_email", decision
    assert decision["off_contract"] and "drafted_emails" in decision["contract_errors"]["send_email"]
    # send_email's own contract still refuses the drifted shape: a dead letter names it, nothing is mailed
    letter = routing_stack.wait_for(DEAD_LETTERS, lambda d: d.get("lead_id") == draft.lead_id, timeout_s=120)
    assert letter["stage"] == "dispatch" and letter["agent"] == "send_email"
    assert _mails_to(routing_stack, lead["email"]) == []

    junk = {"name": "asdf asdf", "email": f"asdf.{uuid.uuid4().hex[:6]}@asdf.example", "company_name": "asdf",
            "project_description": "CHEAP SEO BACKLINKS!!! We rank your site #1 on Google. Reply for our price list."}
    lead_id = _submit(routing_stack, junk)
    event = _ended(routing_stack, lead_id, timeout_s=240)
    assert event["kind"] == "ended" and event["reason"], event
    assert [d["agent"] for d in routing_stack.records(ROUTING_DECISIONS, lead_id)] == ["none"]
