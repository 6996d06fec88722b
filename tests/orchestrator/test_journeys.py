"""When a lead's workflow is over, read from its steps: copies of work already taken do not reopen it."""

from __future__ import annotations

from sdr_pipeline.orchestrator.journeys import Step, is_finished


def _step(kind: str, at: str, message_id: str | None = None) -> Step:
    return Step(at=at, lead_id="lead", kind=kind, hop=0, agent=None, detail="", message_id=message_id)


ENDED = [_step("message", "1", "m1"), _step("decision", "2", "m1"), _step("message", "3", "m2"),
         _step("decision", "4", "m2"), _step("ended", "5", "m2")]


def test_a_lead_routed_to_none_is_finished_and_one_still_working_is_not() -> None:
    assert is_finished(ENDED)
    assert not is_finished(ENDED[:4])
    assert not is_finished([])


def test_a_copy_dropped_as_duplicate_after_the_end_does_not_make_it_unfinished() -> None:
    late_copy = [*ENDED, _step("message", "6", "m3"), _step("duplicate", "7", "m3")]
    assert is_finished(late_copy)


def test_a_redelivered_message_id_after_the_end_is_not_new_work() -> None:
    assert is_finished([*ENDED, _step("message", "6", "m1")])


def test_a_new_message_after_the_end_is_waited_for() -> None:
    assert not is_finished([*ENDED, _step("message", "6", "m9")])


def test_a_reopened_lead_is_unfinished_until_it_ends_again() -> None:
    stopped = [_step("message", "1", "m1"), _step("limit", "2", "m1")]
    reopened = [*stopped, _step("message", "3", "reply"), _step("reopened", "4", "reply")]
    assert is_finished(stopped)
    assert not is_finished(reopened)
    assert is_finished([*reopened, _step("decision", "5", "reply"), _step("ended", "6", "reply")])


def test_malformed_records_on_the_topics_are_no_steps_and_break_nothing() -> None:
    from sdr_pipeline.contracts.topics import AGENT_MESSAGES, ROUTING_DECISIONS
    from sdr_pipeline.infra.bus import Record
    from sdr_pipeline.orchestrator.journeys import journeys

    good = Record(AGENT_MESSAGES, "a", b'{"lead_id": "a", "produced_by": "web_form", "created_at": "1", "context": 7}')
    records = [good, Record(AGENT_MESSAGES, "t", None), Record(AGENT_MESSAGES, "d", b"[" * 5000 + b"]" * 5000),
               Record(ROUTING_DECISIONS, "a", b'{"lead_id": "a"}'), Record(AGENT_MESSAGES, "x", b"\xff")]
    steps = journeys(records)
    assert list(steps) == ["a"] and steps["a"][0].detail == "7"
