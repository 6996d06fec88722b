"""The routing job's steps without Flink: scripted LLM, in-process HTTP for agents."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from sdr_pipeline.contracts import DEAD_LETTERS, NEEDS_REVIEW, ROUTING_DECISIONS, WORKFLOW_EVENTS, Envelope
from sdr_pipeline.contracts.review import REVIEW_FIELD, review_signature
from sdr_pipeline.contracts.decision import ControlMessage
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.orchestrator.steps import (
    DECIDED,
    DISPATCH,
    ROUTE,
    Dispatcher,
    Gate,
    LeadLedger,
    Ledger,
    Limits,
    RouteStep,
    timeout_dead_letter,
)
from sdr_pipeline.registry import load_registry
from sdr_pipeline.router import list_prompts
from tests.router.conftest import REPO_ROOT

LIMITS = Limits(max_hops=5, tokens=10_000, cost_usd=1.0)
REGISTRY = load_registry()
PROMPTS = {(p.name, p.version): p for p in list_prompts("router", prompts_dir=REPO_ROOT / "prompts")}
FIRST_VERSION = sorted(version for _, version in PROMPTS)[0]


def _gate() -> Gate:
    return Gate(PROMPTS, "router", FIRST_VERSION, LIMITS)


def _raw_lead(hop: int = 0, **overrides) -> Envelope:
    fields = dict(lead_id="lead-1", hop=hop, produced_by="web_form",
                  lead={"name": "Ada Lovelace", "email": "ada@analytical.example", "company_name": "Analytical Engines"})
    return Envelope(**{**fields, **overrides})


def _route(envelope: Envelope, answers: list, *, policy: str = "llm"):
    [task] = _gate().on_message(envelope.to_json(), None)
    llm = ScriptedLLM(answers)
    outputs = asyncio.run(RouteStep(PROMPTS, REGISTRY, policy, 2).run(task.value, llm))
    return outputs, llm


def test_gate_sends_valid_envelopes_to_the_router_with_the_live_version():
    [output] = _gate().on_message(_raw_lead().to_json(), "v2")
    assert output.topic == ROUTE and output.key == "lead-1"
    assert json.loads(output.value)["prompt_version"] == "v2"
    [output] = _gate().on_message(_raw_lead().to_json(), None)
    assert json.loads(output.value)["prompt_version"] == FIRST_VERSION


@pytest.mark.parametrize("raw", ["{not json", "[]", json.dumps({"lead_id": "x"}), json.dumps({"lead_id": "", "produced_by": "a"})])
def test_gate_dead_letters_malformed_messages_with_the_reason(raw):
    [output] = _gate().on_message(raw, None)
    assert output.topic == DEAD_LETTERS
    letter = json.loads(output.value)
    assert letter["stage"] == "validation" and letter["raw_value"] == raw and letter["reason"]


def test_gate_stops_a_lead_at_the_hop_limit():
    [output] = _gate().on_message(_raw_lead(hop=5).to_json(), None)
    assert output.topic == WORKFLOW_EVENTS
    event = json.loads(output.value)
    assert event["kind"] == "limit" and event["limit"] == "hops" and event["figures"] == {"hop": 5, "max_hops": 5}


def test_control_switches_only_to_known_versions():
    known, outputs = _gate().on_control(ControlMessage(prompt="router", version="v2").model_dump_json())
    assert known is not None and known.version == "v2" and outputs[0].topic == WORKFLOW_EVENTS
    unknown, outputs = _gate().on_control(ControlMessage(prompt="router", version="v99").model_dump_json())
    assert unknown is None and outputs[0].topic == DEAD_LETTERS and "v99" in json.loads(outputs[0].value)["reason"]


def test_route_step_returns_a_decision_for_the_ledger():
    answer = {"agent": "lead_ingestion", "confidence": 0.9, "reason": "new raw lead"}
    [output], llm = _route(_raw_lead(), [answer])
    assert output.topic == DECIDED
    decision = json.loads(output.value)["decision"]
    assert decision["agent"] == "lead_ingestion" and decision["prompt_version"] == FIRST_VERSION
    assert len(llm.calls) == 1


def test_route_step_dead_letters_an_answer_that_stays_invalid():
    [output], llm = _route(_raw_lead(), ["not json at all", {"agent": "astrologer", "confidence": 1, "reason": "?"}])
    assert output.topic == DEAD_LETTERS
    letter = json.loads(output.value)
    assert letter["stage"] == "routing" and letter["lead_id"] == "lead-1" and letter["raw_output"]


def _decided(agent: str, *, tokens: int = 100, envelope: Envelope | None = None) -> str:
    outputs, _ = _route(envelope or _raw_lead(), [{"agent": agent, "confidence": 0.8, "reason": f"pick {agent}"}])
    task = json.loads(outputs[0].value)
    task["decision"]["prompt_tokens"] = tokens
    task["decision"]["completion_tokens"] = 0
    return json.dumps(task)


def test_ledger_dispatches_and_logs_the_decision():
    ledger, outputs = Ledger(LIMITS).apply(LeadLedger(), _decided("lead_ingestion"))
    assert [o.topic for o in outputs] == [ROUTING_DECISIONS, DISPATCH]
    assert ledger.tokens == 100 and len(ledger.seen) == 1


def test_ledger_ends_the_workflow_on_none():
    _, outputs = Ledger(LIMITS).apply(LeadLedger(), _decided("none"))
    assert [o.topic for o in outputs] == [ROUTING_DECISIONS, WORKFLOW_EVENTS]
    assert json.loads(outputs[1].value)["kind"] == "ended"


def test_ledger_detects_the_same_input_sent_to_the_same_agent_again():
    ledger, _ = Ledger(LIMITS).apply(LeadLedger(), _decided("lead_ingestion"))
    again = _raw_lead(message_id="another-id")  # same content, new message id
    ledger, outputs = Ledger(LIMITS).apply(ledger, _decided("lead_ingestion", envelope=again))
    event = json.loads(outputs[-1].value)
    assert event["kind"] == "limit" and event["limit"] == "loop" and ledger.stopped == "loop"
    assert DISPATCH not in [o.topic for o in outputs]


def test_ledger_stops_a_lead_over_its_token_budget_and_keeps_it_stopped():
    ledger, outputs = Ledger(LIMITS).apply(LeadLedger(), _decided("lead_ingestion", tokens=10_001))
    event = json.loads(outputs[-1].value)
    assert event["limit"] == "tokens" and event["figures"] == {"used": 10_001, "allowed": 10_000}
    ledger, outputs = Ledger(LIMITS).apply(ledger, _decided("lead_scoring", tokens=1))
    assert DISPATCH not in [o.topic for o in outputs]


def test_ledger_state_survives_a_json_round_trip():
    ledger, _ = Ledger(LIMITS).apply(LeadLedger(), _decided("lead_ingestion"))
    assert LeadLedger.from_json(ledger.to_json()) == ledger


def _dispatch(task_json: str, handler) -> list:
    dispatcher = Dispatcher(REGISTRY, "http://agents.test", backoff_initial_s=0.01, backoff_max_s=0.02)

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await dispatcher.run(task_json, client)

    return asyncio.run(go())


def test_dispatcher_retries_5xx_then_delivers_once():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500 if len(calls) <= 2 else 200, json={"ok": True})

    [output] = _dispatch(_decided("lead_ingestion"), handler)
    assert len(calls) == 3
    assert calls[0].url.path == "/agents/lead_ingestion"
    assert json.loads(calls[-1].content)["lead_id"] == "lead-1"
    event = json.loads(output.value)
    assert output.topic == WORKFLOW_EVENTS and event["kind"] == "dispatched" and event["figures"]["attempts"] == 3
    assert event["figures"]["agent_s"] >= 0.02, "the two backoffs (at least 0.01 s each) count in the answer time"


def test_dispatcher_dead_letters_after_max_attempts():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503, text="agent down")

    [output] = _dispatch(_decided("lead_ingestion"), handler)
    assert len(calls) == REGISTRY.get("lead_ingestion").max_attempts
    letter = json.loads(output.value)
    assert output.topic == DEAD_LETTERS and letter["stage"] == "dispatch" and letter["agent"] == "lead_ingestion"
    assert "503" in letter["reason"] and f"{len(calls)} attempt" in letter["reason"]


def test_dispatcher_does_not_retry_a_rejected_input():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(422, json={"detail": "context.score: field required"})

    [output] = _dispatch(_decided("lead_ingestion"), handler)
    assert len(calls) == 1 and "field required" in json.loads(output.value)["reason"]


def test_timeouts_become_dead_letters_not_lost_messages():
    output = timeout_dead_letter(_decided("lead_ingestion"), stage="dispatch")
    letter = json.loads(output.value)
    assert output.topic == DEAD_LETTERS and letter["lead_id"] == "lead-1" and letter["stage"] == "dispatch"


def test_an_unsure_decision_waits_on_needs_review_instead_of_being_dispatched():
    task = json.loads(_decided("nurture_campaign"))
    task["decision"]["needs_review"] = True
    task["decision"]["confidence"] = 0.3
    _, outputs = Ledger(LIMITS).apply(LeadLedger(), json.dumps(task))
    assert [o.topic for o in outputs] == [ROUTING_DECISIONS, NEEDS_REVIEW, WORKFLOW_EVENTS]
    event = json.loads(outputs[2].value)
    assert event["kind"] == "review" and "0.30 likely nurture_campaign" in event["reason"]


def _with_verdict(envelope: Envelope, agent: str, signature: str) -> str:
    data = json.loads(envelope.to_json())
    data[REVIEW_FIELD] = {"agent": agent, "reviewer": "sam", "note": "a reply asking for slides", "signature": signature}
    return json.dumps(data)


def test_a_signed_review_verdict_is_the_decision_and_a_forged_one_is_dead_lettered():
    gate = Gate(PROMPTS, "router", FIRST_VERSION, LIMITS, review_secret="s3cret")
    envelope = _raw_lead()
    good = review_signature("s3cret", message_id=envelope.message_id, agent="nurture_campaign")
    [output] = gate.on_message(_with_verdict(envelope, "nurture_campaign", good), None)
    assert output.topic == DECIDED
    task = json.loads(output.value)
    assert (task["decision"]["agent"], task["decision"]["decided_by"]) == ("nurture_campaign", "review")
    assert "sam chose nurture_campaign" in task["decision"]["reason"] and REVIEW_FIELD not in task["envelope"]
    # a verdict for another agent with the same signature, or any verdict while no secret is set: refused
    forged = gate.on_message(_with_verdict(envelope, "send_email", good), None)
    unset = Gate(PROMPTS, "router", FIRST_VERSION, LIMITS).on_message(_with_verdict(envelope, "nurture_campaign", good),
                                                                      None)
    for [letter] in (forged, unset):
        assert letter.topic == DEAD_LETTERS and "signature" in json.loads(letter.value)["reason"]
