"""The routing job's steps without Flink: scripted LLM, in-process HTTP for agents."""

from __future__ import annotations

import asyncio
import hashlib
import json

import httpx
import pytest

from sdr_pipeline.backoff import Backoff
from sdr_pipeline.contracts import DEAD_LETTERS, NEEDS_REVIEW, ROUTING_DECISIONS, WORKFLOW_EVENTS, Envelope
from sdr_pipeline.contracts.decision import ControlMessage
from sdr_pipeline.contracts.raw import RecordBounds
from sdr_pipeline.contracts.review import REVIEW_FIELD, review_signature
from sdr_pipeline.contracts.signing import SIGNATURE_HEADER, verify_request
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.orchestrator import steps
from sdr_pipeline.orchestrator.steps import (
    DECIDED,
    DISPATCH,
    ROUTE,
    Dedupe,
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
FIRST_VERSION = min(version for _, version in PROMPTS)


def _gate() -> Gate:
    return Gate(PROMPTS, "router", FIRST_VERSION, LIMITS)


def _raw_lead(hop: int = 0, **overrides) -> Envelope:
    fields = {"lead_id": "lead-1", "hop": hop, "produced_by": "web_form",
              "lead": {"name": "Ada Lovelace", "email": "ada@analytical.example", "company_name": "Analytical Engines"}}
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
    [output], _ = _route(_raw_lead(), ["not json at all", {"agent": "astrologer", "confidence": 1, "reason": "?"}])
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
    assert ledger.tokens == 100 and len(ledger.chain) == 1


def test_ledger_ends_the_workflow_on_none():
    _, outputs = Ledger(LIMITS).apply(LeadLedger(), _decided("none"))
    assert [o.topic for o in outputs] == [ROUTING_DECISIONS, WORKFLOW_EVENTS]
    assert json.loads(outputs[1].value)["kind"] == "ended"


def test_ledger_stops_a_real_cycle_in_a_messages_chain():
    ledger, _ = Ledger(LIMITS).apply(LeadLedger(), _decided("lead_ingestion", envelope=_raw_lead(message_id="m0")))
    profile = {"company": "Analytical Engines", "summary": "builds engines"}
    first = _raw_lead(message_id="m1", parent_message_id="m0", hop=1, produced_by="lead_ingestion", context=profile)
    ledger, _ = Ledger(LIMITS).apply(ledger, _decided("lead_scoring", envelope=first))
    score = _raw_lead(message_id="m2", parent_message_id="m1", hop=2, produced_by="lead_scoring", context={"score": 1})
    ledger, _ = Ledger(LIMITS).apply(ledger, _decided("lead_ingestion", envelope=score))
    # lead_ingestion writes the very profile again, and lead_scoring would get it a second time: a cycle
    again = _raw_lead(message_id="m3", parent_message_id="m2", hop=3, produced_by="lead_ingestion", context=profile)
    ledger, outputs = Ledger(LIMITS).apply(ledger, _decided("lead_scoring", envelope=again))
    event = json.loads(outputs[-1].value)
    assert event["kind"] == "limit" and event["limit"] == "loop" and ledger.stopped == "loop"
    assert DISPATCH not in [o.topic for o in outputs]


def test_the_same_input_on_another_chain_is_new_work_not_a_loop():
    ledger, _ = Ledger(LIMITS).apply(LeadLedger(), _decided("lead_ingestion"))
    again = _raw_lead(message_id="another-id")  # same content, new message id, no parent: a new chain
    ledger, outputs = Ledger(LIMITS).apply(ledger, _decided("lead_ingestion", envelope=again))
    assert [o.topic for o in outputs] == [ROUTING_DECISIONS, DISPATCH] and ledger.stopped is None


def test_ledger_stops_a_lead_over_its_token_budget_and_keeps_it_stopped():
    ledger, outputs = Ledger(LIMITS).apply(LeadLedger(), _decided("lead_ingestion", tokens=10_001))
    event = json.loads(outputs[-1].value)
    assert event["limit"] == "tokens" and event["figures"] == {"used": 10_001, "allowed": 10_000}
    ledger, outputs = Ledger(LIMITS).apply(ledger, _decided("lead_scoring", tokens=1))
    assert DISPATCH not in [o.topic for o in outputs]


def test_ledger_state_survives_a_json_round_trip():
    ledger, _ = Ledger(LIMITS).apply(LeadLedger(), _decided("lead_ingestion"))
    assert LeadLedger.from_json(ledger.to_json()) == ledger


DISPATCH_SECRET = "dispatch-secret-for-tests"


def _dispatch(task_json: str, handler, *, redelivery: Backoff = steps.NO_REDELIVERY) -> list:
    dispatcher = Dispatcher(REGISTRY, "http://agents.test", backoff_initial_s=0.01, backoff_max_s=0.02,
                            secret=DISPATCH_SECRET, redelivery=redelivery)

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
    for call in calls:  # every attempt signed over its body and path, as the agents verify it
        assert verify_request(call.content, call.headers.get(SIGNATURE_HEADER), DISPATCH_SECRET, method="POST",
                              path=call.url.raw_path.decode(), max_age_s=60) is None
    assert verify_request(calls[0].content, calls[0].headers.get(SIGNATURE_HEADER), "another-secret", method="POST",
                          path=calls[0].url.raw_path.decode(), max_age_s=60) is not None
    event = json.loads(output.value)
    assert output.topic == WORKFLOW_EVENTS and event["kind"] == "dispatched" and event["figures"]["attempts"] == 3
    assert event["figures"]["agent_s"] >= 0.02, "the two backoffs (at least 0.01 s each) count in the answer time"


def test_dispatcher_dead_letters_after_max_attempts_when_no_redelivery_is_left():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503, text="agent down")

    [output] = _dispatch(_decided("lead_ingestion"), handler, redelivery=steps.NO_REDELIVERY)
    assert len(calls) == REGISTRY.get("lead_ingestion").max_attempts
    letter = json.loads(output.value)
    assert output.topic == DEAD_LETTERS and letter["stage"] == "dispatch" and letter["agent"] == "lead_ingestion"
    assert "503" in letter["reason"] and f"{len(calls)} attempt" in letter["reason"]
    assert letter["decision"]["agent"] == "lead_ingestion", "a replay needs the decision, not a new one"


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


# --- poison pills: nothing a record holds may fail the job -------------------------------------------------------

def _letter(outputs) -> dict:
    [output] = outputs
    assert output.topic == DEAD_LETTERS, output
    return json.loads(output.value)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_tombstone_is_dead_lettered_with_the_reason():
    letter = _letter(_gate().on_message(None, None))
    assert letter["stage"] == "validation" and "tombstone" in letter["reason"] and "agent_messages" in letter["reason"]
    control, outputs = _gate().on_control(None)
    assert control is None and "tombstone" in _letter(outputs)["reason"] and _letter(outputs)["stage"] == "control"


def test_deep_json_is_refused_before_parsing_it():
    deep = json.dumps({"lead_id": "lead-1", "produced_by": "web_form"})[:-1] + ', "context": ' + _nested(5000) + "}"
    letter = _letter(_gate().on_message(deep, None))
    assert letter["error_type"] == "ContractError" and "nested deeper than 32 levels" in letter["reason"]
    _, outputs = _gate().on_control(_nested(5000))
    assert "nested deeper" in _letter(outputs)["reason"]


def test_nesting_within_the_limit_and_brackets_inside_strings_pass():
    context = json.loads(_nested(20))
    text = "[{" * 500 + ' a \\" quote [ inside ' + "}]" * 3
    [output] = _gate().on_message(_raw_lead(context={"deep": context, "text": text}).to_json(), None)
    assert output.topic == ROUTE


def test_an_oversized_record_is_refused_and_its_dead_letter_fits_the_producers_limit():
    huge = json.dumps({"lead_id": "lead-1", "produced_by": "web_form", "context": "x" * 900_000})
    letter = _letter(_gate().on_message(huge, None))
    assert "over the limit of 262,144 bytes" in letter["reason"]
    assert len(json.dumps(letter).encode()) <= RecordBounds().dead_letter_bytes < 1_048_576
    assert letter["raw_value"].startswith('{"lead_id": "lead-1"') and f"{len(huge):,} bytes in all" in letter["raw_value"]
    assert hashlib.sha256(huge.encode()).hexdigest() in letter["raw_value"]


def test_a_dead_letter_fits_even_when_escaping_multiplies_its_size():
    bounds = RecordBounds(record_bytes=10_000_000, dead_letter_bytes=20_000)
    gate = Gate(PROMPTS, "router", FIRST_VERSION, LIMITS, bounds=bounds)
    output = gate.on_message("\x00" * 200_000, None)[0]  # each NUL is six bytes of JSON
    assert output.topic == DEAD_LETTERS and len(output.value.encode()) <= 20_000
    assert "200,000 bytes in all" in json.loads(output.value)["raw_value"]


def test_an_unforeseen_error_in_the_gate_is_dead_lettered_with_its_type(monkeypatch):
    def crash(raw):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(steps, "parse_envelope", crash)
    letter = _letter(_gate().on_message(_raw_lead().to_json(), None))
    assert letter["error_type"] == "RecursionError" and letter["stage"] == "validation"
    assert letter["reason"].startswith("RecursionError: maximum recursion depth exceeded")


def test_an_unforeseen_error_in_the_router_is_dead_lettered_not_raised():
    [task] = _gate().on_message(_raw_lead().to_json(), None)
    outputs = asyncio.run(RouteStep(PROMPTS, REGISTRY, "llm", 2).run(task.value, ScriptedLLM([ValueError("odd")])))
    letter = _letter(outputs)
    assert (letter["stage"], letter["error_type"], letter["lead_id"]) == ("routing", "ValueError", "lead-1")
    assert _letter(asyncio.run(RouteStep(PROMPTS, REGISTRY, "llm", 2).run("{}", ScriptedLLM([]))))["stage"] == "routing"


def test_a_decision_for_an_unknown_agent_is_dead_lettered_by_the_dispatcher():
    task = json.loads(_decided("lead_ingestion"))
    task["decision"]["agent"] = "astrologer"
    letter = _letter(_dispatch(json.dumps(task), lambda request: httpx.Response(200)))
    assert letter["stage"] == "dispatch" and letter["error_type"] == "RegistryError" and letter["agent"] == "astrologer"


def test_a_ledger_failure_leaves_the_leads_state_as_it_was():
    ledger = Ledger(LIMITS)
    state, _ = ledger.step(None, _decided("lead_ingestion"))
    after, outputs = ledger.step(state, '{"envelope": "not a task"}')
    assert after == state and _letter(outputs)["stage"] == "routing"
    broken, outputs = ledger.step("{not json", _decided("lead_scoring"))
    assert broken == "{not json" and _letter(outputs)["lead_id"] == "lead-1"


def test_the_job_restarts_with_an_exponential_delay_and_no_attempt_cap(tmp_path):
    from sdr_pipeline.orchestrator.job import job_config
    from sdr_pipeline.settings import Settings

    config = job_config(Settings(_env_file=None, state_dir=tmp_path, job_restart_max_backoff_s=90))
    assert config["restart-strategy.type"] == "exponential-delay"
    assert config["restart-strategy.exponential-delay.max-backoff"] == "90 s"
    assert int(config["restart-strategy.exponential-delay.attempts-before-reset-backoff"]) == 2**31 - 1
    assert not [key for key in config if "fixed-delay" in key]


# --- duplicates are not loops, and a stop is not forever ---------------------------------------------------------

class _MapState:
    """Flink's MapState, as Dedupe uses it."""

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def put(self, key: str, value: str) -> None:
        self.entries[key] = value


def test_dedupe_passes_the_first_copy_and_turns_a_redelivery_into_a_duplicate_event():
    seen, envelope = _MapState(), _raw_lead()
    [task] = _gate().on_message(envelope.to_json(), None)
    assert Dedupe().apply(task.as_tuple(), seen) == [task]
    [again] = _gate().on_message(envelope.to_json(), None)
    [output] = Dedupe().apply(again.as_tuple(), seen)
    event = json.loads(output.value)
    assert output.topic == WORKFLOW_EVENTS and event["kind"] == "duplicate"
    assert event["message_id"] == envelope.message_id and event["figures"]["first_seen"] == seen.entries[
        envelope.message_id]


def test_a_review_verdict_is_not_a_copy_of_the_message_it_resolves_but_its_redelivery_is():
    gate, seen = Gate(PROMPTS, "router", FIRST_VERSION, LIMITS, review_secret="k"), _MapState()
    envelope = _raw_lead()
    [task] = gate.on_message(envelope.to_json(), None)
    Dedupe().apply(task.as_tuple(), seen)
    signature = review_signature("k", message_id=envelope.message_id, agent="nurture_campaign")
    [verdict] = gate.on_message(_with_verdict(envelope, "nurture_campaign", signature), None)
    assert Dedupe().apply(verdict.as_tuple(), seen) == [verdict] and verdict.topic == DECIDED
    assert json.loads(Dedupe().apply(verdict.as_tuple(), seen)[0].value)["kind"] == "duplicate"


def test_dedupe_dead_letters_a_task_it_cannot_read():
    assert _letter(Dedupe().apply((ROUTE, "lead-1", "{broken"), _MapState()))["lead_id"] == "lead-1"


def test_a_byte_for_byte_copy_of_a_profile_no_longer_stops_the_lead():
    """The issue's case: a copied research profile on agent_messages, then the real scoring output."""
    seen, ledger, ledger_state = _MapState(), Ledger(LIMITS), None
    lead = _raw_lead(message_id="m0")
    profile = _raw_lead(message_id="m1", parent_message_id="m0", hop=1, produced_by="lead_ingestion",
                        context={"summary": "builds engines"})
    scoring = _raw_lead(message_id="m2", parent_message_id="m1", hop=2, produced_by="lead_scoring",
                        context={"score": 82, "next_step": "actively_engage"})
    picks = {"m0": "lead_ingestion", "m1": "lead_scoring", "m2": "active_outreach"}
    kinds = []
    for envelope in (lead, profile, profile, scoring):
        [task] = _gate().on_message(envelope.to_json(), None)
        for output in Dedupe().apply(task.as_tuple(), seen):
            if output.topic == WORKFLOW_EVENTS:
                kinds.append(json.loads(output.value)["kind"])
                continue
            ledger_state, outputs = ledger.step(ledger_state, _decided(picks[envelope.message_id], envelope=envelope))
            kinds.extend("dispatch" if o.topic == DISPATCH else json.loads(o.value).get("kind", "decision")
                         for o in outputs if o.topic != ROUTING_DECISIONS)
    assert kinds == ["dispatch", "dispatch", "duplicate", "dispatch"]
    assert LeadLedger.from_json(ledger_state).stopped is None


def test_the_same_input_from_the_same_parent_twice_is_a_duplicate_and_stops_nothing():
    ledger, _ = Ledger(LIMITS).apply(LeadLedger(), _decided("lead_ingestion", envelope=_raw_lead(message_id="m0")))
    profile = {"summary": "builds engines"}
    first = _raw_lead(message_id="m1", parent_message_id="m0", hop=1, produced_by="lead_ingestion", context=profile)
    rerun = _raw_lead(message_id="m1-rerun", parent_message_id="m0", hop=1, produced_by="lead_ingestion",
                      context=profile)
    ledger, _ = Ledger(LIMITS).apply(ledger, _decided("lead_scoring", envelope=first))
    ledger, outputs = Ledger(LIMITS).apply(ledger, _decided("lead_scoring", envelope=rerun))
    event = json.loads(outputs[-1].value)
    assert event["kind"] == "duplicate" and event["figures"]["same_as"] == "m1" and ledger.stopped is None
    assert DISPATCH not in [o.topic for o in outputs]


def test_a_new_inbound_reply_reopens_a_stopped_lead_with_a_fresh_budget():
    ledger, _ = Ledger(LIMITS).apply(LeadLedger(), _decided("lead_ingestion", tokens=10_001))
    assert ledger.stopped == "tokens"
    agent_output = _raw_lead(message_id="m5", produced_by="lead_ingestion", context={"company_summary": "engines"})
    ledger, outputs = Ledger(LIMITS).apply(ledger, _decided("lead_scoring", envelope=agent_output))
    assert json.loads(outputs[-1].value)["limit"] == "tokens" and DISPATCH not in [o.topic for o in outputs]
    reply = _raw_lead(message_id="r1", produced_by="inbound_email", context={"text": "Can we meet on Tuesday?"})
    ledger, outputs = Ledger(LIMITS).apply(ledger, _decided("active_outreach", envelope=reply, tokens=50))
    assert [o.topic for o in outputs] == [WORKFLOW_EVENTS, ROUTING_DECISIONS, DISPATCH]
    event = json.loads(outputs[0].value)
    assert (event["kind"], event["limit"], event["figures"]["tokens"]) == ("reopened", "tokens", 10_101)
    assert (ledger.stopped, ledger.tokens, ledger.reopens) == (None, 50, 1)


def test_a_ledger_stored_by_the_previous_job_still_loads():
    old = json.dumps({"tokens": 7, "cost_usd": 0.0, "decisions": 1, "seen": ["lead_ingestion:abc"], "stopped": "loop"})
    ledger = LeadLedger.from_json(old)
    assert (ledger.tokens, ledger.stopped, ledger.chain) == (7, "loop", {})


def test_the_chain_a_ledger_keeps_is_bounded():
    ledger = LeadLedger()
    for index in range(300):
        ledger.remember(f"m{index}", f"m{index - 1}" if index else None, f"a:{index}")
    assert len(ledger.chain) == 256 and "m299" in ledger.chain and "m0" not in ledger.chain
    assert list(ledger.ancestors("m299"))[-1] == "a:44", "the walk stops where the kept chain ends"


# --- health says what Flink says --------------------------------------------------------------------------------

class _Future:
    def __init__(self, value=None, *, done=lambda: True) -> None:
        self.value, self.done = value, done

    def result(self):
        return self.value


class _Status:
    def __init__(self, name: str) -> None:
        self.name = name


class _JobClient:
    """A PyFlink JobClient whose job goes through `statuses`, one per report, then ends."""

    def __init__(self, statuses: list[str], seen: list[str], ready) -> None:
        self.statuses, self.seen, self.ready = list(statuses), seen, ready

    def get_job_id(self):
        return "job-1"

    def get_job_execution_result(self):
        return _Future("result", done=lambda: not self.statuses)

    def get_job_status(self):
        if self.ready.exists():  # what the health check would have read before this report
            self.seen.append(json.loads(self.ready.read_text())["status"])
        return _Future(_Status(self.statuses.pop(0)))


def test_health_follows_the_jobs_real_status_and_goes_stale(tmp_path):
    import os
    import time

    from sdr_pipeline.orchestrator import job
    from sdr_pipeline.settings import Settings

    settings = Settings(_env_file=None, state_dir=tmp_path)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    (settings.run_dir / "router.pid").write_text(str(os.getpid()))
    ready, seen = job.ready_file(settings), []
    assert not job._running(settings), "nothing reported yet"
    client = _JobClient(["RUNNING", "RESTARTING", "RUNNING"], seen, ready)
    assert job.report_status(client, ready, every_s=0) == "result"
    assert seen == ["RUNNING", "RESTARTING"] and json.loads(ready.read_text())["status"] == "ENDED"
    assert not job._running(settings), "an ended job is not healthy"
    ready.write_text(json.dumps({"job_id": "job-1", "status": "RUNNING", "at": time.time()}))
    assert job._running(settings)
    ready.write_text(json.dumps({"job_id": "job-1", "status": "RESTARTING", "at": time.time()}))
    assert not job._running(settings), "a job in a restart loop is not healthy"
    ready.write_text(json.dumps({"job_id": "job-1", "status": "RUNNING", "at": time.time() - 60}))
    assert not job._running(settings), "a process that stopped reporting is not healthy"
