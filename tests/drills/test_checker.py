"""The invariant checker on hand-made topics: each promise it guards can fail on its own."""

from __future__ import annotations

import json
from email.message import EmailMessage

from sdr_pipeline.contracts.topics import AGENT_MESSAGES, DEAD_LETTERS, WORKFLOW_EVENTS
from sdr_pipeline.drills.checker import DoorAnswer, DrillLead, Probe, judge, observe, settle
from sdr_pipeline.infra.bus import InMemoryBus

LEAD = DrillLead("lead-1", "ada@example.com")


def _message(message_id: str, produced_by: str, *, parent: str | None = None, context: object = None,
             at: str = "2026-01-01T00:00:01") -> dict:
    return {"message_id": message_id, "lead_id": LEAD.lead_id, "hop": 0, "produced_by": produced_by,
            "created_at": at, "lead": {"email": LEAD.email}, "context": context, "parent_message_id": parent}


def _event(kind: str, message_id: str, *, agent: str | None = None, at: str = "2026-01-01T00:00:02") -> dict:
    return {"kind": kind, "lead_id": LEAD.lead_id, "reason": f"{kind} for the test", "message_id": message_id,
            "agent": agent, "limit": "loop" if kind == "limit" else None, "figures": {}, "at": at}


def _mail(message_id: str) -> EmailMessage:
    mail = EmailMessage()
    mail["To"] = LEAD.email
    mail["Message-ID"] = message_id
    return mail


def _bus(*, messages=(), events=(), letters=()) -> InMemoryBus:
    bus = InMemoryBus()
    for topic, values in ((AGENT_MESSAGES, messages), (WORKFLOW_EVENTS, events), (DEAD_LETTERS, letters)):
        for value in values:
            bus.publish(topic, json.dumps(value).encode(), key=LEAD.lead_id)
    return bus


HAPPY_MESSAGES = [_message("m1", "web_form"),
                  _message("m2", "send_email", parent="m1", at="2026-01-01T00:00:03",
                           context={"sent_count": 1, "scheduled_count": 0})]
HAPPY_EVENTS = [_event("dispatched", "m1", agent="send_email"), _event("ended", "m2", at="2026-01-01T00:00:04")]


def test_a_lead_that_ended_with_its_one_email_passes() -> None:
    report = judge("t", "scripted", observe(_bus(messages=HAPPY_MESSAGES, events=HAPPY_EVENTS), lambda: [_mail("<a>")]),
                   [LEAD])
    assert report.passed, report.failures
    assert (report.leads_in, report.bridged, report.ended, report.lost) == (1, 1, 1, 0)
    assert (report.emails_in_mailbox, report.emails_reported_sent) == (1, 1)


def test_a_lead_that_never_ended_is_lost() -> None:
    report = judge("t", "scripted", observe(_bus(messages=HAPPY_MESSAGES[:1]), lambda: []), [LEAD])
    assert not report.passed and report.lost == 1
    assert "never ended" in report.failures[0]


def test_a_lead_stopped_as_a_loop_fails_even_though_it_is_over() -> None:
    events = [_event("dispatched", "m1", agent="send_email"), _event("limit", "m2", at="2026-01-01T00:00:04")]
    report = judge("t", "scripted", observe(_bus(messages=HAPPY_MESSAGES, events=events), lambda: [_mail("<a>")]),
                   [LEAD])
    assert report.outcomes[LEAD.lead_id] == "limit:loop" and not report.passed


def test_an_email_the_reports_do_not_account_for_fails() -> None:
    mails = [_mail("<a>"), _mail("<b>")]
    report = judge("t", "scripted", observe(_bus(messages=HAPPY_MESSAGES, events=HAPPY_EVENTS), lambda: mails), [LEAD])
    assert report.failures == ["2 e-mail(s) in the mailbox but the delivery reports say 1 sent"]


def test_a_message_id_in_the_mailbox_twice_a_double_dispatch_and_a_fork_each_fail() -> None:
    twice = [_mail("<a>"), _mail("<a>")]
    messages = [*HAPPY_MESSAGES[:1], {**HAPPY_MESSAGES[1], "context": {"sent_count": 2, "scheduled_count": 0}}]
    events = [*HAPPY_EVENTS, _event("dispatched", "m1", agent="send_email"), _event("dispatched", "m1", agent="nurture")]
    report = judge("t", "scripted", observe(_bus(messages=messages, events=events), lambda: twice), [LEAD])
    assert report.duplicate_mail_ids == 1 and report.duplicate_dispatches == 2 and report.forks == 1
    assert len(report.failures) == 3, report.failures


def test_two_outputs_of_one_agent_for_one_input_are_duplicated_work() -> None:
    extra = _message("m3", "send_email", parent="m1", at="2026-01-01T00:00:03", context={"sent_count": 0,
                                                                                         "scheduled_count": 0})
    report = judge("t", "scripted", observe(_bus(messages=[*HAPPY_MESSAGES, extra], events=HAPPY_EVENTS),
                                            lambda: [_mail("<a>")]), [LEAD])
    assert report.duplicate_outputs == 1 and not report.passed


def test_a_probe_needs_a_dead_letter_with_a_reason() -> None:
    letters = [{"raw_value": "x marker-1 x", "reason": "not valid JSON", "stage": "validation",
                "failed_at": "2026-01-01T00:00:05"},
               {"raw_value": "marker-2", "reason": " ", "stage": "validation", "failed_at": "2026-01-01T00:00:05"}]
    probes = [Probe(name, "agent_messages", lambda d, m=name: m in d["raw_value"])
              for name in ("marker-1", "marker-2", "marker-3")]
    report = judge("t", "scripted", observe(_bus(letters=letters), lambda: []), [], probes=probes)
    assert report.probes_dead_lettered == 2
    assert report.doors["agent_messages"] == {"dead letter: validation": 2, "no dead letter": 1}
    assert sorted(report.failures) == ["marker-2 on agent_messages was dead-lettered without a reason",
                                       "marker-3 on agent_messages got no dead letter"]


def test_a_door_must_answer_a_4xx_with_a_reason() -> None:
    answers = [DoorAnswer("bad json", "intake JSON", 422, "not JSON"), DoorAnswer("crash", "intake JSON", 500, "boom"),
               DoorAnswer("accepted", "form", 303, ""), DoorAnswer("silent", "form", 400, "")]
    report = judge("t", "scripted", observe(_bus(), lambda: []), [], answers=answers)
    assert report.doors["intake JSON"] == {"422": 1, "500": 1}
    assert len(report.failures) == 3 and all("not a 4xx" in failure for failure in report.failures)


def test_settle_returns_at_once_when_everything_is_over_and_gives_up_in_time_otherwise() -> None:
    done = _bus(messages=HAPPY_MESSAGES, events=HAPPY_EVENTS)
    _, seconds = settle(done, lambda: [], [LEAD], [], timeout_s=5.0, poll_s=0.01)
    assert seconds < 1.0
    _, seconds = settle(_bus(messages=HAPPY_MESSAGES[:1]), lambda: [], [LEAD], [], timeout_s=0.2, poll_s=0.01)
    assert 0.2 <= seconds < 2.0
