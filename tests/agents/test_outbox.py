"""The outbox on its own, with fake senders: one bad row never blocks the others, failures back off to a
`failed` state, the suppression list cancels and refuses, every e-mail carries List-Unsubscribe, and opt-outs
are recognised in replies."""

from __future__ import annotations

import smtplib
import sqlite3
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from sdr_pipeline.agents.opt_outs import OptOut, opt_out_in_reply
from sdr_pipeline.agents.outbox import (
    Outbox,
    OutgoingEmail,
    _permanent_refusals,
)
from sdr_pipeline.backoff import Backoff
from sdr_pipeline.contracts import utc_now
from sdr_pipeline.exceptions import InfraError
from tests.agents.conftest import RecordingSender

NOW = utc_now()
RETRY = Backoff(attempts=3, initial_s=60.0, max_s=600.0)


class FlakySender(RecordingSender):
    """Fails for the addresses in `down` (InfraError, or `error` if given), records the rest."""

    def __init__(self, *down: str, error: Exception | None = None, refuse: str | None = None) -> None:
        super().__init__()
        self.down = set(down)
        self.error = error
        self.refuse = refuse
        self.tried: list[str] = []

    def send(self, message: EmailMessage) -> dict[str, str] | None:
        self.tried.append(message["To"])
        if message["To"] == self.refuse:
            return {message["To"]: "550 5.1.1 user unknown"}
        if message["To"] in self.down:
            raise self.error or InfraError("smtp", "connection refused", fix="start it")
        super().send(message)
        return None


def make_outbox(tmp_path: Path, sender: RecordingSender, **options: object) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite", sender, sender_address="sdr@relay.example", retry=RETRY,
                  **options)  # type: ignore[arg-type]


def one(index: int, to: str, *, offset: int = 0, subject: str = "Hello") -> OutgoingEmail:
    return OutgoingEmail(index, to, subject, "Hi there", offset, None, f"<m.{index}.{to}@relay.example>")


def status(outbox: Outbox, message_id: str) -> list[str]:
    return [row.status for row in sorted(outbox.rows(message_id), key=lambda row: row.index)]


def test_a_poisoned_row_fails_alone_and_the_rows_after_it_go_out(tmp_path: Path) -> None:
    sender = RecordingSender()
    outbox = make_outbox(tmp_path, sender)
    # A row written before the contract refused line breaks in headers: it can never be built into an e-mail.
    poisoned = one(0, "a@x.example", subject="Hi\u2028Bcc: b@evil.example")
    outbox.enqueue(message_id="m-old", lead_id="lead-a", emails=[poisoned], now=NOW - timedelta(minutes=5))
    outbox.enqueue(message_id="m-new", lead_id="lead-b", emails=[one(0, "b@x.example"), one(1, "c@x.example")], now=NOW)
    sent = outbox.send_due(now=NOW)
    assert [(row.message_id, row.index) for row in sent] == [("m-new", 0), ("m-new", 1)]
    [poisoned] = outbox.rows("m-old")
    assert poisoned.status == "failed" and "cannot be built into an e-mail" in poisoned.last_error
    assert [message["To"] for message in sender.sent] == ["b@x.example", "c@x.example"]
    assert outbox.send_due(now=NOW + timedelta(days=1)) == []  # failed is final: no retry loop
    outbox.close()


def test_a_failing_row_backs_off_then_fails_while_others_are_sent(tmp_path: Path) -> None:
    sender = FlakySender("down@x.example")
    outbox = make_outbox(tmp_path, sender)
    outbox.enqueue(message_id="m-1", lead_id="lead-a", emails=[one(0, "down@x.example"), one(1, "up@x.example")],
                   now=NOW)
    assert [row.to for row in outbox.send_due(now=NOW)] == ["up@x.example"]
    row = outbox.rows("m-1")[0]
    assert (row.status, row.attempts) == ("pending", 1) and row.retry_at == NOW + timedelta(seconds=60)
    assert "connection refused" in row.last_error
    outbox.send_due(now=NOW + timedelta(seconds=59))  # still backing off: not tried
    assert sender.tried.count("down@x.example") == 1
    outbox.send_due(now=NOW + timedelta(seconds=60))
    row = outbox.rows("m-1")[0]
    assert row.attempts == 2 and row.retry_at == NOW + timedelta(seconds=60 + 120)  # the wait doubled
    outbox.send_due(now=NOW + timedelta(seconds=180))
    row = outbox.rows("m-1")[0]
    assert row.status == "failed" and row.attempts == 3 and "gave up after 3 attempts" in row.last_error
    assert outbox.send_due(now=NOW + timedelta(days=1)) == [] and sender.tried.count("down@x.example") == 3
    assert outbox.retry_failed("m-1") == 1 and status(outbox, "m-1") == ["pending", "sent"]
    outbox.close()


def test_an_unexpected_sender_error_is_a_failed_attempt_not_a_stuck_row(tmp_path: Path) -> None:
    outbox = make_outbox(tmp_path, FlakySender("a@x.example", error=UnicodeEncodeError("ascii", "é", 0, 1, "no")))
    outbox.enqueue(message_id="m-1", lead_id="lead-a", emails=[one(0, "a@x.example")], now=NOW)
    assert outbox.send_due(now=NOW) == []
    [row] = outbox.rows("m-1")
    assert row.status == "pending" and "UnicodeEncodeError" in row.last_error  # not left `sending`
    outbox.close()


def test_ignore_backoff_lets_a_retried_dispatch_try_at_once(tmp_path: Path) -> None:
    sender = FlakySender("a@x.example")
    outbox = make_outbox(tmp_path, sender)
    outbox.enqueue(message_id="m-1", lead_id="lead-a", emails=[one(0, "a@x.example")], now=NOW)
    outbox.send_due(now=NOW)
    sender.down.clear()
    assert outbox.send_due(now=NOW, message_id="m-1") == []
    assert [row.to for row in outbox.send_due(now=NOW, message_id="m-1", ignore_backoff=True)] == ["a@x.example"]
    outbox.close()


def test_a_claim_never_confirmed_is_given_up_after_the_cap(tmp_path: Path) -> None:
    outbox = make_outbox(tmp_path, RecordingSender(), stale_claim_s=10)
    outbox.enqueue(message_id="m-1", lead_id="lead-a", emails=[one(0, "a@x.example")], now=NOW)
    with sqlite3.connect(tmp_path / "outbox.sqlite") as db:  # the sender died mid-send three times
        db.execute("UPDATE outbox SET status = 'sending', attempts = 3, claimed_at = ?",
                   ((NOW - timedelta(minutes=1)).isoformat(),))
    assert outbox.send_due(now=NOW) == []
    [row] = outbox.rows("m-1")
    assert row.status == "failed" and "never confirmed sent" in row.last_error
    outbox.close()


def test_a_permanent_refusal_fails_the_row_and_suppresses_the_address(tmp_path: Path) -> None:
    sender = FlakySender(refuse="gone@x.example")
    outbox = make_outbox(tmp_path, sender)
    outbox.enqueue(message_id="m-1", lead_id="lead-a",
                   emails=[one(0, "gone@x.example"), one(1, "gone@x.example", offset=7)], now=NOW)
    assert outbox.send_due(now=NOW) == []
    assert status(outbox, "m-1") == ["failed", "cancelled"]
    suppression = outbox.suppression("Gone@X.example ")
    assert suppression is not None and suppression.reason.startswith("bounce:") and "550" in suppression.reason
    outbox.close()


def test_suppress_cancels_unsent_rows_and_later_e_mails_to_it_are_never_sent(tmp_path: Path) -> None:
    sender = RecordingSender()
    outbox = make_outbox(tmp_path, sender)
    sequence = [one(0, "jo@x.example"), one(1, "jo@x.example", offset=7), one(2, "jo@x.example", offset=30)]
    outbox.enqueue(message_id="m-1", lead_id="lead-jo", emails=sequence, now=NOW)
    outbox.enqueue(message_id="m-2", lead_id="lead-other", emails=[one(0, "other@x.example", offset=7)], now=NOW)
    outbox.send_due(now=NOW)
    assert outbox.suppress("JO@x.example", reason="unsubscribe: the reply says 'unsubscribe'", lead_id="lead-jo") == 2
    assert status(outbox, "m-1") == ["sent", "cancelled", "cancelled"]
    assert "is suppressed (unsubscribe" in outbox.rows("m-1")[1].last_error
    assert outbox.enqueue(message_id="m-3", lead_id="lead-jo-again", emails=[one(0, "jo@x.example")], now=NOW) == 1
    assert status(outbox, "m-3") == ["cancelled"]
    sent = outbox.send_due(now=NOW + timedelta(days=60))
    assert [row.to for row in sent] == ["other@x.example"]
    assert [message["To"] for message in sender.sent] == ["jo@x.example", "other@x.example"]
    assert [s.address for s in outbox.suppressions()] == ["jo@x.example"]
    assert outbox.unsuppress("jo@x.example") and outbox.suppression("jo@x.example") is None
    outbox.close()


def test_cancel_lead_spares_rows_recorded_after_the_stop(tmp_path: Path) -> None:
    outbox = make_outbox(tmp_path, RecordingSender())
    outbox.enqueue(message_id="m-1", lead_id="lead-a", emails=[one(0, "a@x.example", offset=7)], now=NOW)
    outbox.enqueue(message_id="m-2", lead_id="lead-a", emails=[one(0, "a@x.example", offset=7)],
                   now=NOW + timedelta(hours=1))
    assert outbox.cancel_lead("lead-a", reason="the lead stopped", before=NOW + timedelta(minutes=1)) == 1
    assert status(outbox, "m-1") == ["cancelled"] and status(outbox, "m-2") == ["scheduled"]
    outbox.close()


def test_unsubscribe_message_suppresses_the_recipient_of_that_e_mail(tmp_path: Path) -> None:
    outbox = make_outbox(tmp_path, RecordingSender())
    outbox.enqueue(message_id="m-1", lead_id="lead-a", emails=[one(0, "a@x.example"), one(1, "a@x.example", offset=7)],
                   now=NOW)
    outbox.send_due(now=NOW)
    assert outbox.unsubscribe_message("<nobody@relay.example>") is None
    suppression = outbox.unsubscribe_message("<m.0.a@x.example@relay.example>")
    assert suppression is not None and suppression.address == "a@x.example" and suppression.lead_id == "lead-a"
    assert status(outbox, "m-1") == ["sent", "cancelled"]
    outbox.close()


@pytest.mark.parametrize(("url", "expected", "post"), [
    (None, "<mailto:sdr@relay.example?subject=unsubscribe>", None),
    ("https://relay.example/unsubscribe",
     ("<mailto:sdr@relay.example?subject=unsubscribe>, "
      "<https://relay.example/unsubscribe?id=%3Cm.0.a%40x.example%40relay.example%3E>"), "List-Unsubscribe=One-Click"),
])
def test_every_e_mail_carries_list_unsubscribe(tmp_path: Path, url: str | None, expected: str,
                                                post: str | None) -> None:
    sender = RecordingSender()
    outbox = make_outbox(tmp_path, sender, unsubscribe_url=url)
    outbox.enqueue(message_id="m-1", lead_id="lead-a", emails=[one(0, "a@x.example")], now=NOW)
    outbox.send_due(now=NOW)
    [message] = sender.sent
    assert " ".join(str(message["List-Unsubscribe"]).split()) == expected
    assert message["List-Unsubscribe-Post"] == post
    outbox.close()


def test_an_outbox_file_from_before_the_retry_columns_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE outbox (message_id TEXT NOT NULL, idx INTEGER NOT NULL, lead_id TEXT NOT NULL, "
                   "to_addr TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL, in_reply_to TEXT, "
                   "smtp_message_id TEXT, send_at TEXT NOT NULL, status TEXT NOT NULL, claimed_at TEXT, sent_at TEXT, "
                   "attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, PRIMARY KEY (message_id, idx))")
        db.execute("INSERT INTO outbox (message_id, idx, lead_id, to_addr, subject, body, send_at, status) "
                   "VALUES ('m-old', 0, 'lead-a', 'a@x.example', 'Later', 'Hi', ?, 'scheduled')",
                   ((NOW + timedelta(days=7)).isoformat(),))
    sender = RecordingSender()
    outbox = Outbox(path, sender, sender_address="sdr@relay.example")
    assert outbox.cancel_lead("lead-a", reason="stopped", before=NOW) == 1  # an old row has no created_at
    assert status(outbox, "m-old") == ["cancelled"]
    outbox.close()


def test_only_permanent_smtp_refusals_count_as_bounces() -> None:
    hard = smtplib.SMTPRecipientsRefused({"a@x.example": (550, b"5.1.1 user unknown")})
    soft = smtplib.SMTPRecipientsRefused({"a@x.example": (451, b"4.7.1 try later")})
    assert _permanent_refusals(hard) == {"a@x.example": "550 5.1.1 user unknown"}
    assert _permanent_refusals(soft) is None


# --- opt-outs in replies ------------------------------------------------------------------------

DSN = """This is the mail system at host mx.relay.example.

I'm sorry to have to inform you that your message could not be delivered.

Final-Recipient: rfc822; jo@northwind.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <jo@northwind.example>: Recipient address rejected: User unknown
"""


@pytest.mark.parametrize(("sender", "subject", "body", "kind"), [
    ("jo@x.example", "unsubscribe", "", "unsubscribe"),
    ("jo@x.example", "Re: Answering every lead in minutes", "Please remove me from your list.", "unsubscribe"),
    ("jo@x.example", "Re: Hello", "Stop emailing me.\n\nOn Tue, Alex wrote:\n> hi", "unsubscribe"),
    ("jo@x.example", "Re: Hello", "Please don't contact me again.", "unsubscribe"),
    ("jo@x.example", "Re: Hello", "I'd like to opt out of these e-mails", "unsubscribe"),
    ("MAILER-DAEMON@mx.relay.example", "Undelivered Mail Returned to Sender", DSN, "bounce"),
    ("postmaster@x.example", "Delivery Status Notification (Failure)", "550 5.1.1 The email account does not exist",
     "bounce"),
])
def test_opt_outs_are_recognised(sender: str, subject: str, body: str, kind: str) -> None:
    found = opt_out_in_reply(sender=sender, subject=subject, body=body)
    assert isinstance(found, OptOut) and found.kind == kind


@pytest.mark.parametrize(("sender", "subject", "body"), [
    ("jo@x.example", "Re: Hello", "Sounds great, can we talk on Tuesday about pricing?"),
    ("jo@x.example", "Re: Why teams opt out of manual triage", "Interesting read, send me the case study."),
    ("jo@x.example", "Re: Hello", "Yes please!\n\nOn Tue, Alex wrote:\n> reply 'unsubscribe' to stop these"),
    ("jo@x.example", "Re: Hello", "Thanks\n> Unsubscribe: reply with unsubscribe"),
    ("MAILER-DAEMON@mx.relay.example", "Delivery Status Notification (Delay)",
     "Delivery to the following recipient has been delayed.\nStatus: 4.4.7\nWe will retry."),
])
def test_ordinary_replies_and_soft_bounces_are_not_opt_outs(sender: str, subject: str, body: str) -> None:
    assert opt_out_in_reply(sender=sender, subject=subject, body=body) is None


def test_a_bounce_names_the_recipient_that_bounced() -> None:
    found = opt_out_in_reply(sender="MAILER-DAEMON@mx.relay.example", subject="Undelivered Mail Returned to Sender",
                             body=DSN)
    assert found is not None and found.address == "jo@northwind.example"
    assert "Status: 5.1.1" in found.reason
