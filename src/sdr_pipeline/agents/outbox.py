"""The outbox: every drafted e-mail is recorded once, keyed on (message id, e-mail index), then sent.

A replay of the same envelope finds its rows already there, so nothing is sent twice;
e-mails due later stay `scheduled` until `send_due` finds them due. Sending claims a
row first (`pending` -> `sending`), so two senders never send the same row. A crash
between the SMTP hand-over and the `sent` mark leaves the row `sending`; such rows are
retried only after `stale_claim_s` — the one at-least-once window SMTP cannot close. The
Message-ID header is deterministic, so the receiving side can still spot a duplicate.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from sdr_pipeline.contracts import utc_now
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra.state_db import open_state_db
from sdr_pipeline.settings import Settings

__all__ = ["EmailSender", "Outbox", "OutboxRow", "OutgoingEmail", "SmtpSender"]

logger = logging.getLogger(__name__)


class EmailSender(Protocol):
    """Hands one e-mail to a mail server; raises InfraError when it cannot."""

    def send(self, message: EmailMessage) -> None: ...


class SmtpSender:
    """Sends through an SMTP server (the local aiosmtpd one by default), with retries on dropped connections."""

    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.timeout_s = settings.smtp_timeout_s
        self.starttls = settings.smtp_starttls
        self.username = settings.smtp_username
        self._password = settings.smtp_password

    def send(self, message: EmailMessage) -> None:
        try:
            self._send(message)
        except (OSError, smtplib.SMTPException) as error:
            raise InfraError("smtp", f"could not send to {self.host}:{self.port} ({type(error).__name__}: {error})",
                             fix="start the local one with `sdr-pipeline infra up` or fix SDR_SMTP_HOST/SDR_SMTP_PORT") from None

    @retry(retry=retry_if_exception_type((smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError)),
           stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=4), reraise=True)
    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self._password.get_secret_value())
            smtp.send_message(message)


@dataclass(frozen=True)
class OutgoingEmail:
    """One e-mail to record in the outbox."""

    index: int
    to: str
    subject: str
    body: str
    send_offset_days: int = 0
    in_reply_to: str | None = None
    smtp_message_id: str | None = None


@dataclass(frozen=True)
class OutboxRow:
    """One e-mail as the outbox knows it."""

    message_id: str
    index: int
    lead_id: str
    to: str
    subject: str
    body: str
    in_reply_to: str | None
    smtp_message_id: str | None
    send_at: datetime
    status: str
    """scheduled (due later) | pending (due, not sent) | sending (claimed) | sent."""
    sent_at: datetime | None
    attempts: int
    last_error: str | None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    lead_id TEXT NOT NULL,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    in_reply_to TEXT,
    smtp_message_id TEXT,
    send_at TEXT NOT NULL,
    status TEXT NOT NULL,
    claimed_at TEXT,
    sent_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (message_id, idx)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, send_at);
"""
_COLUMNS = ("message_id, idx, lead_id, to_addr, subject, body, in_reply_to, smtp_message_id, send_at, status, "
            "sent_at, attempts, last_error")


def _row(values: tuple) -> OutboxRow:
    (message_id, idx, lead_id, to, subject, body, in_reply_to, smtp_id, send_at, status, sent_at, attempts,
     last_error) = values
    return OutboxRow(message_id, idx, lead_id, to, subject, body, in_reply_to, smtp_id,
                     datetime.fromisoformat(send_at), status,
                     datetime.fromisoformat(sent_at) if sent_at else None, attempts, last_error)


class Outbox:
    """SQLite-backed outbox shared by the send_email agent and the scheduler."""

    def __init__(self, path: Path, sender: EmailSender, *, sender_address: str, stale_claim_s: float = 600.0) -> None:
        self.path = path
        self.sender_address = sender_address
        self.stale_claim_s = stale_claim_s
        self._sender = sender
        self._lock = threading.Lock()
        self._db = open_state_db(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def enqueue(self, *, message_id: str, lead_id: str, emails: list[OutgoingEmail], now: datetime | None = None) -> int:
        """Record the e-mails of one envelope; rows that exist already are left alone. Returns rows added."""
        start = now or utc_now()
        added = 0
        with self._lock:
            for email in emails:
                send_at = start + timedelta(days=email.send_offset_days)
                status = "pending" if email.send_offset_days == 0 else "scheduled"
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (message_id, idx, lead_id, to_addr, subject, body, in_reply_to, "
                    "smtp_message_id, send_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (message_id, email.index, lead_id, email.to, email.subject, email.body, email.in_reply_to,
                     email.smtp_message_id, send_at.isoformat(), status),
                )
                added += cursor.rowcount
        if added < len(emails):
            logger.info("outbox already held %d of %d e-mails of message_id=%s lead_id=%s (replay)",
                        len(emails) - added, len(emails), message_id, lead_id)
        return added

    def rows(self, message_id: str | None = None) -> list[OutboxRow]:
        query = f"SELECT {_COLUMNS} FROM outbox"
        args: tuple = ()
        if message_id is not None:
            query += " WHERE message_id = ?"
            args = (message_id,)
        with self._lock:
            return [_row(values) for values in self._db.execute(query + " ORDER BY send_at, message_id, idx", args)]

    def send_due(self, *, now: datetime | None = None, message_id: str | None = None) -> list[OutboxRow]:
        """Send every due, unsent e-mail (of one message, if given); returns the rows sent now.
        Raises InfraError after recording the failure if the mail server refuses one."""
        moment = now or utc_now()
        stale = (moment - timedelta(seconds=self.stale_claim_s)).isoformat()
        where = "send_at <= ? AND (status IN ('pending', 'scheduled') OR (status = 'sending' AND claimed_at < ?))"
        args: list = [moment.isoformat(), stale]
        if message_id is not None:
            where += " AND message_id = ?"
            args.append(message_id)
        with self._lock:
            due = [(m, i) for m, i in self._db.execute(f"SELECT message_id, idx FROM outbox WHERE {where}", args)]
        sent: list[OutboxRow] = []
        for key in due:
            row = self._claim(key, moment, stale)
            if row is None:
                continue
            self._send_row(row, moment)
            sent.append(self._get(key))
        return sent

    def _claim(self, key: tuple[str, int], moment: datetime, stale: str) -> OutboxRow | None:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE outbox SET status = 'sending', claimed_at = ?, attempts = attempts + 1 "
                "WHERE message_id = ? AND idx = ? AND (status IN ('pending', 'scheduled') "
                "OR (status = 'sending' AND claimed_at < ?))",
                (moment.isoformat(), *key, stale),
            )
            if cursor.rowcount != 1:
                return None
        return self._get(key)

    def _get(self, key: tuple[str, int]) -> OutboxRow:
        with self._lock:
            values = self._db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE message_id = ? AND idx = ?", key).fetchone()
        return _row(values)

    def _send_row(self, row: OutboxRow, moment: datetime) -> None:
        message = EmailMessage()
        message["From"] = self.sender_address
        message["To"] = row.to
        message["Subject"] = row.subject
        message["Date"] = format_datetime(moment)
        if row.smtp_message_id:
            message["Message-ID"] = row.smtp_message_id
        if row.in_reply_to:
            message["In-Reply-To"] = row.in_reply_to
            message["References"] = row.in_reply_to
        message["X-SDR-Lead-Id"] = row.lead_id
        message.set_content(row.body)
        try:
            self._sender.send(message)
        except InfraError as error:
            with self._lock:
                self._db.execute("UPDATE outbox SET status = 'pending', claimed_at = NULL, last_error = ? "
                                 "WHERE message_id = ? AND idx = ?", (str(error), row.message_id, row.index))
            logger.warning("sending e-mail %d of message_id=%s lead_id=%s failed: %s",
                           row.index, row.message_id, row.lead_id, error)
            raise
        with self._lock:
            self._db.execute("UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL "
                             "WHERE message_id = ? AND idx = ?", (utc_now().isoformat(), row.message_id, row.index))
        logger.info("sent e-mail %d of message_id=%s lead_id=%s to %s", row.index, row.message_id, row.lead_id, row.to)
