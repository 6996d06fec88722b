"""The fast fault drills against one scratch stack (real broker, SMTP, agents, intake, Flink job; stand-in
model): each drill's own verdict, and the figures that show it judged what it claims to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sdr_pipeline.drills.catalogue import run_drill, select
from sdr_pipeline.drills.checker import Report
from sdr_pipeline.drills.stack import DrillStack, scratch_stack
from sdr_pipeline.settings import Settings

pytestmark = [pytest.mark.drills, pytest.mark.kafka, pytest.mark.flink]

TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def drill_stack() -> Iterator[DrillStack]:
    with scratch_stack(Settings(), policy="contract") as stack:
        yield stack


def _run(stack: DrillStack, name: str) -> Report:
    report = run_drill(stack, select(name)[0], timeout_s=TIMEOUT_S)
    assert report.passed, "\n".join(report.failures)
    return report


def test_a_duplicate_envelope_is_dropped_and_the_lead_still_ends(drill_stack: DrillStack) -> None:
    report = _run(drill_stack, "duplicate")
    assert (report.leads_in, report.ended, report.duplicated) == (1, 1, 0)
    assert report.emails_in_mailbox == report.emails_reported_sent == 1


def test_the_same_lead_submitted_twice_at_once_is_one_lead_per_door(drill_stack: DrillStack) -> None:
    report = _run(drill_stack, "double-submit")
    assert (report.leads_in, report.ended) == (3, 3)
    assert report.emails_in_mailbox == 3


def test_poison_pills_are_dead_lettered_with_reasons_and_the_job_goes_on(drill_stack: DrillStack) -> None:
    report = _run(drill_stack, "poison")
    assert report.probes_in == report.probes_dead_lettered == 6
    assert report.ended == 1 and drill_stack.alive("router")


def test_hostile_inputs_get_a_4xx_or_a_dead_letter_at_every_door(drill_stack: DrillStack) -> None:
    report = _run(drill_stack, "inputs")
    tried = sum(sum(answers.values()) for answers in report.doors.values())
    assert tried >= 40
    assert set(report.doors) == {"agent_messages", "incoming_leads", "intake JSON", "form", "inbound webhook",
                                 "agent calls"}
    assert report.ended == 1


def test_agents_away_for_a_while_delay_the_leads_but_lose_none(drill_stack: DrillStack) -> None:
    report = _run(drill_stack, "agents-down")
    assert (report.leads_in, report.ended) == (4, 4)
    assert not report.dead_letters, report.dead_letters
    assert report.emails_in_mailbox == report.emails_reported_sent == 4
    assert "set aside" in report.notes[-1] and not report.notes[-1].startswith("0 ")


def test_agents_gone_past_the_schedule_leave_dead_letters_that_a_replay_finishes(drill_stack: DrillStack) -> None:
    report = _run(drill_stack, "agents-gone")
    assert (report.leads_in, report.ended) == (4, 4)
    assert report.dead_letters.get("dispatch"), "the outage left dispatch dead letters to replay"
    assert report.emails_in_mailbox == report.emails_reported_sent == 4
    assert report.duplicate_dispatches == report.forks == report.duplicate_mail_ids == 0
