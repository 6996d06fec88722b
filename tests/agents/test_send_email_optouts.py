"""send_email and the agents service around the outbox, in-process with fakes: opt-outs are honoured before
sending or scheduling, learnt from the pipeline's topics, header injection is refused at the contract, and the
scheduler and the opt-out watcher survive failures and show a heartbeat in /health."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from sdr_pipeline.agents import create_app, output_message_id
from sdr_pipeline.agents.outbox import Outbox, OutgoingEmail
from sdr_pipeline.backoff import Backoff
from sdr_pipeline.agents.send_email import OPT_OUT_TOPICS, learn
from sdr_pipeline.contracts import (
    AGENT_MESSAGES,
    WORKFLOW_EVENTS,
    DeliveryReport,
    Envelope,
    check_envelope,
    parse_envelope,
    utc_now,
)
from sdr_pipeline.contracts.workflow import WorkflowEvent
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra.bus import InMemoryBus, Record
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.settings import Settings
from tests.agents.conftest import LEAD, RecordingSender, envelope, known_leads
from tests.signing import agents_client, post_draft

pytestmark = pytest.mark.anyio

JO = LEAD["email"]
DRAFT = {"to": JO, "subject": "Answering every lead in minutes", "body": "Hi Jo,\n\nTuesday?\n\nAlex"}
SEQUENCE = {"to": JO, "emails": [{"subject": "One", "body": "1", "send_offset_days": 0},
                                 {"subject": "Two", "body": "2", "send_offset_days": 7},
                                 {"subject": "Three", "body": "3", "send_offset_days": 30}]}


def outbox_at(settings: Settings, sender: RecordingSender | None = None, **options: object) -> Outbox:
    return Outbox(settings.state_dir / "agents" / "outbox.sqlite", sender or RecordingSender(),
                  sender_address=settings.email_from, **options)  # type: ignore[arg-type]


async def post(client: httpx.AsyncClient, env: Envelope) -> httpx.Response:
    return await post_draft(client, env)


def reply(context: object, *, message_id: str = "reply-1") -> Record:
    env = Envelope(message_id=message_id, lead_id="lead-nw", hop=0, produced_by="inbound_email", lead=LEAD,
                   context=context)
    return Record(AGENT_MESSAGES, "lead-nw", env.to_json().encode())


def stop_event(kind: str, message_id: str, **fields: object) -> Record:
    event = WorkflowEvent(kind=kind, lead_id="lead-nw", message_id=message_id, reason="stopped", **fields)
    return Record(WORKFLOW_EVENTS, "lead-nw", event.to_bytes())


def scheduled_sequence(outbox: Outbox, *, message_id: str = "m-seq") -> None:
    emails = [OutgoingEmail(i, JO, f"E{i}", "b", offset, None, f"<{message_id}.{i}@x>")
              for i, offset in enumerate((0, 7, 30))]
    outbox.enqueue(message_id=message_id, lead_id="lead-nw", emails=emails)
    outbox.send_due()


# --- send_email honours the suppression list ----------------------------------------------------


async def test_a_suppressed_recipient_gets_nothing_and_the_report_says_why(make_client, bus, sender, settings) -> None:
    outbox = outbox_at(settings)
    outbox.suppress(JO, reason="unsubscribe: the reply says 'unsubscribe'")
    outbox.close()
    async with make_client(ScriptedLLM([])) as client:
        response = await post(client, envelope("nurture_campaign", SEQUENCE, hop=3))
    assert response.status_code == 200, response.text
    assert sender.sent == []
    [output] = [parse_envelope(record.value) for record in bus.topics[AGENT_MESSAGES]]
    report = DeliveryReport.model_validate(output.context)
    assert (report.sent_count, report.scheduled_count, report.cancelled_count) == (0, 0, 3)
    assert all(d.status == "cancelled" and "suppressed (unsubscribe" in d.note for d in report.deliveries)
    assert check_envelope("delivery_reported", output) is None  # the lead's workflow still ends


@pytest.mark.parametrize(("context", "field"), [
    ({**DRAFT, "subject": "Hello\r\nBcc: everyone@victim.example"}, "context.subject"),
    ({**DRAFT, "subject": "Hello\u2028Bcc: everyone@victim.example"}, "context.subject"),
    ({**DRAFT, "to": f"{JO}\nBcc: everyone@victim.example"}, "context.to"),
    ({**SEQUENCE, "emails": [{**SEQUENCE["emails"][0], "subject": "Hi\u2029there"}, *SEQUENCE["emails"][1:]]},
     "context.emails.0.subject"),
])
async def test_line_breaks_in_headers_are_refused_before_the_outbox(make_client, sender, settings, context,
                                                                    field) -> None:
    async with make_client(ScriptedLLM([])) as client:
        response = await post(client, envelope("active_outreach", context, hop=3))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert f"at '{field}'" in detail and "must be one line" in detail and "remove line breaks" in detail
    outbox = outbox_at(settings)
    assert outbox.rows() == [] and sender.sent == []
    outbox.close()


class DownSender(RecordingSender):
    def send(self, message) -> None:
        raise InfraError("smtp", "connection refused", fix="start it")


async def test_a_due_e_mail_that_keeps_failing_is_503_until_failed_for_good(settings, bus) -> None:
    outbox = outbox_at(settings, DownSender(), retry=Backoff(attempts=2, initial_s=60.0, max_s=3600.0))
    app = create_app(settings, llm=ScriptedLLM([]), publisher=bus, outbox=outbox, leads=known_leads())
    async with agents_client(app, settings) as client:
        first = await post(client, envelope("active_outreach", DRAFT, hop=3))
        second = await post(client, envelope("active_outreach", DRAFT, hop=3))
        third = await post(client, envelope("active_outreach", DRAFT, hop=3))
    assert first.status_code == second.status_code == third.status_code == 503
    assert "not sent yet (attempt 1 of 2)" in first.json()["detail"]
    assert "failed for good" in second.json()["detail"] and "gave up after 2 attempts" in second.json()["detail"]
    assert "failed for good" in third.json()["detail"]
    assert [row.attempts for row in outbox.rows()] == [2]  # no third attempt after the cap
    assert AGENT_MESSAGES not in bus.topics
    outbox.close()


# --- learning opt-outs and stops from the topics ------------------------------------------------


def test_an_unsubscribe_reply_suppresses_the_lead_and_cancels_its_nurture_e_mails(settings) -> None:
    outbox = outbox_at(settings)
    scheduled_sequence(outbox)
    change = learn(outbox, reply({"from_address": JO, "subject": "Re: One", "body": "Please unsubscribe me."}))
    assert change is not None and "suppressed" in change
    assert [row.status for row in outbox.rows("m-seq")] == ["sent", "cancelled", "cancelled"]
    assert outbox.suppression(JO).reason == "unsubscribe: the reply says 'unsubscribe'"
    assert learn(outbox, reply({"from_address": JO, "subject": "Re: One", "body": "Please unsubscribe me."})) \
        is not None  # read twice: idempotent, nothing more changes
    assert len(outbox.suppressions()) == 1
    outbox.close()


def test_a_bounce_report_suppresses_the_bounced_address(settings) -> None:
    outbox = outbox_at(settings)
    scheduled_sequence(outbox)
    bounce = {"from_address": "MAILER-DAEMON@mx.example", "subject": "Undelivered Mail Returned to Sender",
              "body": f"Final-Recipient: rfc822; {JO}\nStatus: 5.1.1\n"}
    assert learn(outbox, reply(bounce)) is not None
    assert outbox.suppression(JO).reason.startswith("bounce:")
    assert outbox.suppression("MAILER-DAEMON@mx.example") is None
    assert [row.status for row in outbox.rows("m-seq")] == ["sent", "cancelled", "cancelled"]
    outbox.close()


@pytest.mark.parametrize("record", [
    reply({"from_address": JO, "subject": "Re: One", "body": "Sounds good, call me on Tuesday."}),
    reply("Can we talk pricing next week?"),
    Record(AGENT_MESSAGES, "lead-nw", None),  # a tombstone
    Record(AGENT_MESSAGES, "lead-nw", b'{"produced_by": "inbound_email", ' + b"[" * 5000),
    Record(AGENT_MESSAGES, "lead-nw", b"inbound_email \xff not json"),
    Record(WORKFLOW_EVENTS, "lead-nw", b'{"kind": "ended"' + b"[" * 5000),
    Record("dead_letters", "lead-nw", b"{}"),
], ids=["ordinary-reply", "reply-text", "tombstone", "deep-json", "not-json", "deep-event", "other-topic"])
def test_other_records_change_nothing(settings, record: Record) -> None:
    outbox = outbox_at(settings)
    scheduled_sequence(outbox)
    assert learn(outbox, record) is None
    assert [row.status for row in outbox.rows("m-seq")] == ["sent", "scheduled", "scheduled"]
    assert outbox.suppressions() == []
    outbox.close()


def test_a_stop_cancels_scheduled_e_mails_but_the_lead_s_own_delivery_report_does_not(settings) -> None:
    outbox = outbox_at(settings)
    scheduled_sequence(outbox)
    assert learn(outbox, stop_event("ended", output_message_id("send_email", "m-seq"))) is None
    assert learn(outbox, stop_event("review", "reply-9")) is None
    assert [row.status for row in outbox.rows("m-seq")] == ["sent", "scheduled", "scheduled"]
    assert learn(outbox, stop_event("ended", "reply-1")) == "lead_id=lead-nw: 2 unsent e-mail(s) cancelled (ended)"
    assert [row.status for row in outbox.rows("m-seq")] == ["sent", "cancelled", "cancelled"]
    assert "the lead stopped (ended: stopped)" in outbox.rows("m-seq")[1].last_error
    outbox.close()


def test_a_stop_from_before_a_sequence_was_scheduled_leaves_it_alone(settings) -> None:
    outbox = outbox_at(settings)
    scheduled_sequence(outbox)
    old = stop_event("limit", "m-earlier", limit="loop", at=utc_now() - timedelta(hours=1))
    assert learn(outbox, old) is None  # e.g. the watcher catching up on history
    assert [row.status for row in outbox.rows("m-seq")] == ["sent", "scheduled", "scheduled"]
    assert learn(outbox, stop_event("limit", "m-later", limit="tokens")) is not None
    outbox.close()


# --- the scheduler and the watcher: catch-all and heartbeat ------------------------------------


class ScriptedOutbox:
    """Stands in for the outbox in the scheduler: raises, hangs or answers as told, and counts passes."""

    def __init__(self, *, fail_first: int = 0, hang: threading.Event | None = None) -> None:
        self.passes = 0
        self.fail_first = fail_first
        self.hang = hang

    def send_due(self, *, beat: Callable[[], None] | None = None, **_options: object) -> list:
        self.passes += 1
        if self.passes <= self.fail_first:
            raise RuntimeError("database is locked")
        if self.hang is not None:
            self.hang.wait(5)
        return []


async def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def fast(settings: Settings, **fields: object) -> Settings:
    return settings.model_copy(update={"outbox_poll_s": 0.02, "outbox_stale_after_s": 0.3, **fields})


async def test_the_scheduler_outlives_an_unexpected_error_and_reports_it(settings, bus) -> None:
    outbox = ScriptedOutbox(fail_first=2)
    app = create_app(fast(settings), llm=ScriptedLLM([]), publisher=bus, outbox=outbox, send_scheduled=True)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app), \
            agents_client(app, settings) as client:
        await wait_for(lambda: outbox.passes >= 1)
        failing = await client.get("/health")
        await wait_for(lambda: outbox.passes >= 4)
        recovered = await client.get("/health")
    assert failing.status_code == 200  # alive and beating, with the error shown
    assert "RuntimeError: database is locked" in failing.json()["background"]["scheduler"]["last_error"]
    assert recovered.status_code == 200 and recovered.json()["background"]["scheduler"]["last_error"] is None


async def test_a_stuck_scheduler_makes_health_503(settings, bus) -> None:
    release = threading.Event()
    outbox = ScriptedOutbox(hang=release)
    app = create_app(fast(settings), llm=ScriptedLLM([]), publisher=bus, outbox=outbox, send_scheduled=True)  # type: ignore[arg-type]
    try:
        async with app.router.lifespan_context(app), \
                agents_client(app, settings) as client:
            await wait_for(lambda: outbox.passes >= 1)
            await asyncio.sleep(0.5)
            stuck = await client.get("/health")
            release.set()
            await asyncio.sleep(0.1)
            freed = await client.get("/health")
    finally:
        release.set()
    assert stuck.status_code == 503
    assert stuck.json()["status"] == "unhealthy" and stuck.json()["background"]["scheduler"]["status"] == "stale"
    assert freed.status_code == 200


async def test_without_background_loops_health_is_ok(make_client) -> None:
    async with make_client(ScriptedLLM([])) as client:
        health = await client.get("/health")
    assert health.status_code == 200 and health.json()["background"] == {}


class FakeConsumer:
    """A GroupConsumer over an InMemoryBus: hands each record out once, records commits."""

    def __init__(self, bus: InMemoryBus, delivered: set, commits: list) -> None:
        self.bus, self.delivered, self.commits = bus, delivered, commits

    def poll(self, *, timeout_s: float, max_records: int) -> list[Record]:
        fresh = [r for r in self.bus.read(OPT_OUT_TOPICS) if (r.topic, r.offset) not in self.delivered]
        self.delivered.update((r.topic, r.offset) for r in fresh)
        if not fresh:
            threading.Event().wait(min(timeout_s, 0.02))
        return fresh[:max_records]

    def commit(self, record: Record) -> None:
        self.commits.append((record.topic, record.offset))

    def close(self) -> None:
        pass


async def test_the_watcher_learns_from_the_topics_and_survives_a_broker_failure(settings, tmp_path: Path) -> None:
    topics = InMemoryBus()
    outbox = outbox_at(settings)
    scheduled_sequence(outbox)
    delivered: set = set()
    commits: list = []
    opened: list[int] = []

    def open_consumer() -> FakeConsumer:
        opened.append(1)
        if len(opened) == 1:
            raise InfraError("kafka", "could not join consumer group agents-opt-outs", fix="start the broker")
        return FakeConsumer(topics, delivered, commits)

    other = envelope("lead_scoring", None, message_id="m-other")
    topics.publish(AGENT_MESSAGES, other)
    topics.publish(AGENT_MESSAGES, parse_envelope(reply({"from_address": JO, "subject": "stop",
                                                          "body": "Remove me from your list."}).value))
    app = create_app(settings, llm=ScriptedLLM([]), publisher=InMemoryBus(), outbox=outbox,
                     opt_out_consumer=open_consumer)
    async with app.router.lifespan_context(app), \
            agents_client(app, settings) as client:
        await wait_for(lambda: len(opened) == 1)
        failed = await client.get("/health")
        await wait_for(lambda: outbox.suppression(JO) is not None)
        await wait_for(lambda: (AGENT_MESSAGES, 1) in commits)
        healthy = await client.get("/health")
    assert failed.status_code == 200
    assert "could not join" in failed.json()["background"]["opt_out_watcher"]["last_error"]
    assert healthy.status_code == 200 and healthy.json()["background"]["opt_out_watcher"]["last_error"] is None
    assert commits == [(AGENT_MESSAGES, 1)]  # the batch's last record, after it was learnt
    assert [row.status for row in outbox.rows("m-seq")] == ["sent", "cancelled", "cancelled"]
    outbox.close()
