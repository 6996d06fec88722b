"""Passing failures wait on `redeliveries` instead of ending a lead, and a replay keeps its first decision."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from sdr_pipeline.backoff import Backoff
from sdr_pipeline.contracts import DEAD_LETTERS, ROUTING_DECISIONS, WORKFLOW_EVENTS
from sdr_pipeline.contracts.topics import REDELIVERIES
from sdr_pipeline.contracts.workflow import DispatchTask, Redelivery, RouteTask
from sdr_pipeline.exceptions import LLMUnavailableError
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.orchestrator.steps import (
    DISPATCH,
    HELD,
    ROUTE,
    LeadLedger,
    Ledger,
    Redeliver,
    RouteStep,
    redelivery_backoff,
)
from sdr_pipeline.settings import Settings
from tests.orchestrator.test_steps import (
    DISPATCH_SECRET,
    LIMITS,
    PROMPTS,
    REGISTRY,
    _decided,
    _dispatch,
    _gate,
    _raw_lead,
)

POLICY = Backoff(attempts=3, initial_s=30.0, max_s=60.0)


def _down(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, text="agent down")


def _set_aside(task_json: str) -> tuple[Redelivery, dict]:
    outputs = _dispatch(task_json, _down, redelivery=POLICY)
    assert [o.topic for o in outputs] == [REDELIVERIES, WORKFLOW_EVENTS]
    return Redelivery.model_validate_json(outputs[0].value), json.loads(outputs[1].value)


def test_the_delays_double_up_to_the_cap():
    assert [POLICY.delay_s(n) for n in (1, 2, 3, 4)] == [30.0, 60.0, 60.0, 60.0]
    defaults = redelivery_backoff(Settings())
    assert sum(defaults.delay_s(n) for n in range(1, defaults.attempts + 1)) >= 30 * 60, "an outage of minutes"


def test_an_agent_that_stays_down_sets_the_task_aside_signed_and_due_later():
    before = time.time()
    record, event = _set_aside(_decided("lead_ingestion"))
    assert record.stage == "dispatch" and record.lead_id == "lead-1" and record.valid_for(DISPATCH_SECRET)
    assert before + 29 <= record.due_ms / 1000 <= time.time() + 31
    assert DispatchTask.model_validate_json(record.task).redeliveries == 1
    assert "503" in record.last_error
    assert event["kind"] == "retrying" and event["figures"]["redelivery"] == 1 and event["figures"]["of"] == 3


def test_a_task_goes_round_until_its_redeliveries_are_spent_then_becomes_a_replayable_dead_letter():
    task_json = _decided("lead_ingestion")
    for round_ in (1, 2, 3):
        record, event = _set_aside(task_json)
        assert event["figures"]["redelivery"] == round_
        [released] = Redeliver.release([(record.message_id, record.model_dump_json())], now_ms=record.due_ms)[1]
        assert released.topic == DISPATCH
        task_json = released.value
    [letter] = _dispatch(task_json, _down, redelivery=POLICY)
    assert letter.topic == DEAD_LETTERS
    body = json.loads(letter.value)
    assert "after 3 redeliveries" in body["reason"] and "deadletters replay" in body["reason"]
    assert body["decision"]["agent"] == "lead_ingestion"


def test_a_rejected_input_is_not_set_aside():
    outputs = _dispatch(_decided("lead_ingestion"), lambda r: httpx.Response(422, text="bad"), redelivery=POLICY)
    assert [o.topic for o in outputs] == [DEAD_LETTERS]


def test_an_unreachable_model_sets_the_routing_task_aside():
    [task] = _gate().on_message(_raw_lead().to_json(), None)
    step = RouteStep(PROMPTS, REGISTRY, "llm", 2, redelivery=POLICY, secret=DISPATCH_SECRET)
    down = LLMUnavailableError("http://model.test", "connection refused")
    outputs = asyncio.run(step.run(task.value, ScriptedLLM([down])))
    assert [o.topic for o in outputs] == [REDELIVERIES, WORKFLOW_EVENTS]
    record = Redelivery.model_validate_json(outputs[0].value)
    assert record.stage == "routing" and RouteTask.model_validate_json(record.task).redeliveries == 1
    [back] = Redeliver.release([(record.message_id, outputs[0].value)], now_ms=record.due_ms)[1]
    assert back.topic == ROUTE


def test_without_the_jobs_key_nothing_is_set_aside():
    [task] = _gate().on_message(_raw_lead().to_json(), None)
    step = RouteStep(PROMPTS, REGISTRY, "llm", 2, redelivery=POLICY, secret="")
    outputs = asyncio.run(step.run(task.value, ScriptedLLM([LLMUnavailableError("http://m", "down")])))
    assert [o.topic for o in outputs] == [DEAD_LETTERS]


def test_only_records_the_job_signed_are_taken_back():
    record, _ = _set_aside(_decided("lead_ingestion"))
    redeliver = Redeliver(secret=DISPATCH_SECRET)
    [held] = redeliver.take(record.model_dump_json())
    assert held.topic == HELD and held.key == "lead-1"
    task = json.loads(record.task)
    task["decision"]["agent"] = "send_email"  # someone with write access picks another agent
    forged = record.model_copy(update={"task": json.dumps(task)})
    unsigned = record.model_copy(update={"signature": ""})
    for bad in (forged.model_dump_json(), unsigned.model_dump_json(), "{\"stage\": \"dispatch\"}", None):
        [letter] = redeliver.take(bad)
        assert letter.topic == DEAD_LETTERS, bad
    assert "signature" in json.loads(redeliver.take(forged.model_dump_json())[0].value)["reason"]


def test_release_hands_back_only_what_is_due():
    early, _ = _set_aside(_decided("lead_ingestion"))
    late = early.model_copy(update={"message_id": "later", "due_ms": early.due_ms + 60_000}).signed(DISPATCH_SECRET)
    due, outputs = Redeliver.release([(early.message_id, early.model_dump_json()), (late.message_id, late.model_dump_json())],
                                     now_ms=early.due_ms)
    assert due == [early.message_id] and len(outputs) == 1


def _replayed(task_json: str, agent: str) -> str:
    """The same message routed again, this time to `agent`."""
    task = json.loads(task_json)
    task["decision"]["agent"] = agent
    task["decision"]["reason"] = f"now {agent}"
    return json.dumps(task)


def test_a_replay_keeps_its_first_agent_whatever_the_router_says_now():
    first = _decided("lead_ingestion")
    ledger, _ = Ledger(LIMITS).apply(LeadLedger(), first)
    ledger = LeadLedger.from_json(ledger.to_json())  # as Flink keeps it between the two
    ledger, outputs = Ledger(LIMITS).apply(ledger, _replayed(first, "lead_scoring"))
    assert [o.topic for o in outputs] == [ROUTING_DECISIONS, DISPATCH]
    dispatched = DispatchTask.model_validate_json(outputs[1].value)
    assert dispatched.decision.agent == "lead_ingestion"
    assert "replay: lead_ingestion was given this message first" in dispatched.decision.reason
    assert json.loads(outputs[0].value)["agent"] == "lead_ingestion", "the log records the decision acted on"


@pytest.mark.parametrize("unsure", [False, True])
def test_a_replay_to_the_same_agent_is_dispatched_again_not_dropped_as_its_own_twin(unsure):
    first = _decided("lead_ingestion")
    ledger, _ = Ledger(LIMITS).apply(LeadLedger(), first)
    again = json.loads(first)
    again["decision"]["needs_review"] = unsure
    ledger, outputs = Ledger(LIMITS).apply(ledger, json.dumps(again))
    assert [o.topic for o in outputs] == [ROUTING_DECISIONS, DISPATCH]


def test_a_held_value_this_code_cannot_read_is_dead_lettered_and_forgotten():
    due, outputs = Redeliver.release([("m-old", '{"stage": "dispatch", "shape": "of an older job"}')], now_ms=0)
    assert due == ["m-old"] and [o.topic for o in outputs] == [DEAD_LETTERS]
    assert json.loads(outputs[0].value)["message_id"] == "m-old"
