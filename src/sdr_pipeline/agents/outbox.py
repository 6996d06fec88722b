"""The outbox: every drafted e-mail is recorded once, keyed on (message id, e-mail index), then sent.

A replay of the same envelope finds its rows already there, so nothing is sent twice;
e-mails due later stay `scheduled` until `send_due` finds them due. Sending claims a
row first (`pending` -> `sending`), so two senders never send the same row. A crash
between the SMTP hand-over and the `sent` mark leaves the row `sending`; such rows are
retried only after `stale_claim_s` — the one at-least-once window SMTP cannot close. The
Message-ID header is deterministic, so the receiving side can still spot a duplicate; no
header names the lead (the Message-ID carries an opaque, signed thread token instead).

Each row is handled on its own, so one bad row never holds up the others: a failed attempt
puts it back to `pending` with a `retry_at` that doubles each time (`Backoff`), and after
`max_attempts` it is `failed`; a row that cannot even be built into an e-mail fails at once.

The suppression list holds the addresses that must never get another e-mail: opt-outs
(an unsubscribe reply, the one-click link) and hard bounces (a bounce report, or the mail
server refusing the recipient). Suppressing an address cancels its unsent rows; rows are
also checked again just before sending. `cancel_lead` cancels a stopped lead's rows.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import quote

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from sdr_pipeline.backoff import Backoff
from sdr_pipeline.contracts import utc_now
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra.state_db import open_state_db
from sdr_pipeline.settings import Settings

__all__ = [
    "EmailSender",
    "Outbox",
    "OutboxRow",
    "OutgoingEmail",
    "SmtpSender",
    "Suppression",
]

logger = logging.getLogger(__name__)

RowStatus = Literal["scheduled", "pending", "sending", "sent", "failed", "cancelled"]


class EmailSender(Protocol):
    """Hands one e-mail to a mail server. Raises InfraError when it cannot now (worth retrying); returns the
    recipients the server refused for good (address -> its reply), which are hard bounces."""

    def send(self, message: EmailMessage) -> Mapping[str, str] | None: ...


def _permanent_refusals(error: smtplib.SMTPRecipientsRefused) -> dict[str, str] | None:
    """The refused recipients if every refusal is permanent (5xx), else None (try again later)."""
    refused = {address: f"{code} {reply.decode('utf-8', 'replace') if isinstance(reply, bytes) else reply}"
               for address, (code, reply) in error.recipients.items()}
    codes = [code for code, _reply in error.recipients.values()]
    return refused if codes and all(500 <= code < 600 for code in codes) else None


class SmtpSender:
    """Sends through an SMTP server (the local aiosmtpd one by default), with retries on dropped connections."""

    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.timeout_s = settings.smtp_timeout_s
        self.starttls = settings.smtp_starttls
        self.username = settings.smtp_username
        self._password = settings.smtp_password

    def send(self, message: EmailMessage) -> dict[str, str]:
        try:
            return self._send(message)
        except smtplib.SMTPRecipientsRefused as error:
            refused = _permanent_refusals(error)
            if refused is not None:
                return refused
            raise InfraError("smtp", f"{self.host}:{self.port} refused the recipient for now ({error.recipients})",
                             fix="nothing to do: the outbox tries again later") from None
        except (OSError, smtplib.SMTPException) as error:
            raise InfraError("smtp", f"could not send to {self.host}:{self.port} ({type(error).__name__}: {error})",
                             fix="start the local one with `sdr-pipeline infra up` or fix SDR_SMTP_HOST/SDR_SMTP_PORT") from None

    @retry(retry=retry_if_exception_type((smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError)),
           stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=4), reraise=True)
    def _send(self, message: EmailMessage) -> dict[str, str]:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self._password.get_secret_value())
            refused = smtp.send_message(message)  # the recipients refused while others were accepted
            return {address: f"{code} {reply.decode('utf-8', 'replace')}"
                    for address, (code, reply) in refused.items() if 500 <= code < 600}


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
    status: RowStatus
    """scheduled (due later) | pending (due, not sent) | sending (claimed) | sent | failed (gave up) |
    cancelled (never to be sent: suppressed address or stopped lead; `last_error` says which)."""
    sent_at: datetime | None
    attempts: int
    last_error: str | None
    retry_at: datetime | None = None
    """Not tried again before this moment (after a failed attempt)."""


@dataclass(frozen=True)
class Suppression:
    """An address that gets no more e-mail, and why."""

    address: str
    reason: str
    """`unsubscribe: …` or `bounce: …`, with the evidence."""
    lead_id: str | None
    at: datetime


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
    retry_at TEXT,
    created_at TEXT,
    PRIMARY KEY (message_id, idx)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, send_at);
CREATE TABLE IF NOT EXISTS suppressions (
    address TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    lead_id TEXT,
    at TEXT NOT NULL
);
"""
_ADDED_COLUMNS = {"retry_at": "TEXT", "created_at": "TEXT"}
"""Columns newer than the first outbox files, added to an existing file when it is opened."""
_COLUMNS = ("message_id, idx, lead_id, to_addr, subject, body, in_reply_to, smtp_message_id, send_at, status, "
            "sent_at, attempts, last_error, retry_at")
_UNSENT = "('scheduled', 'pending')"


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _row(values: tuple) -> OutboxRow:
    (message_id, idx, lead_id, to, subject, body, in_reply_to, smtp_id, send_at, status, sent_at, attempts,
     last_error, retry_at) = values
    return OutboxRow(message_id, idx, lead_id, to, subject, body, in_reply_to, smtp_id,
                     datetime.fromisoformat(send_at), status, _when(sent_at), attempts, last_error, _when(retry_at))


def _address_key(address: str) -> str:
    """Suppressions match addresses regardless of case and surrounding space."""
    return address.strip().lower()


class Outbox:
    """SQLite-backed outbox shared by the send_email agent and the scheduler."""

    def __init__(self, path: Path, sender: EmailSender, *, sender_address: str, stale_claim_s: float = 600.0,
                 retry: Backoff | None = None, unsubscribe_to: str | None = None,
                 unsubscribe_url: str | None = None) -> None:
        self.path = path
        self.sender_address = sender_address
        self.stale_claim_s = stale_claim_s
        self.retry = retry or Backoff(5, 60.0, 3600.0)
        self.unsubscribe_to = unsubscribe_to or sender_address
        """mailto: address of the List-Unsubscribe header."""
        self.unsubscribe_url = unsubscribe_url
        """One-click unsubscribe URL (RFC 8058), or None for mailto: only."""
        self._sender = sender
        self._lock = threading.Lock()
        self._db = open_state_db(path, _SCHEMA)
        present = {name for _cid, name, *_rest in self._db.execute("PRAGMA table_info(outbox)")}
        for name, kind in _ADDED_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {kind}")

    def close(self) -> None:
        self._db.close()

    # --- recording ------------------------------------------------------------------------------

    def enqueue(self, *, message_id: str, lead_id: str, emails: list[OutgoingEmail],
                now: datetime | None = None) -> int:
        """Record the e-mails of one envelope; rows that exist already are left alone. Returns rows added.
        An e-mail to a suppressed address is recorded `cancelled`, so the report can say why it never went."""
        start = now or utc_now()
        added = 0
        with self._lock:
            for email in emails:
                send_at = start + timedelta(days=email.send_offset_days)
                status = "pending" if email.send_offset_days == 0 else "scheduled"
                suppressed = self._suppression(email.to)
                note = None
                if suppressed is not None:
                    status, note = "cancelled", f"not sent: {email.to} is suppressed ({suppressed.reason})"
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (message_id, idx, lead_id, to_addr, subject, body, in_reply_to, "
                    "smtp_message_id, send_at, status, last_error, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (message_id, email.index, lead_id, email.to, email.subject, email.body, email.in_reply_to,
                     email.smtp_message_id, send_at.isoformat(), status, note, start.isoformat()),
                )
                added += cursor.rowcount
                if cursor.rowcount and note:
                    logger.info("e-mail %d of message_id=%s lead_id=%s cancelled: %s", email.index, message_id,
                                lead_id, note)
        if added < len(emails):
            logger.info("outbox already held %d of %d e-mails of message_id=%s lead_id=%s (replay)",
                        len(emails) - added, len(emails), message_id, lead_id)
        return added

    def rows(self, message_id: str | None = None, *, lead_id: str | None = None) -> list[OutboxRow]:
        query = f"SELECT {_COLUMNS} FROM outbox WHERE 1 = 1"
        args: list = []
        if message_id is not None:
            query += " AND message_id = ?"
            args.append(message_id)
        if lead_id is not None:
            query += " AND lead_id = ?"
            args.append(lead_id)
        with self._lock:
            return [_row(values) for values in self._db.execute(query + " ORDER BY send_at, message_id, idx", args)]

    def message_ids(self, lead_id: str) -> set[str]:
        """The send_email messages this lead has rows for."""
        with self._lock:
            return {m for (m,) in self._db.execute("SELECT DISTINCT message_id FROM outbox WHERE lead_id = ?",
                                                   (lead_id,))}

    # --- opt-outs and stops ---------------------------------------------------------------------

    def suppress(self, address: str, *, reason: str, lead_id: str | None = None, now: datetime | None = None) -> int:
        """Put `address` on the suppression list (the first reason is kept) and cancel every unsent row to it,
        and the lead's too; returns the rows cancelled."""
        key = _address_key(address)
        moment = now or utc_now()
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO suppressions (address, reason, lead_id, at) VALUES (?, ?, ?, ?)",
                             (key, reason, lead_id, moment.isoformat()))
            cursor = self._db.execute(
                f"UPDATE outbox SET status = 'cancelled', last_error = ? WHERE lower(trim(to_addr)) = ? "
                f"AND status IN {_UNSENT}", (f"cancelled: {address} is suppressed ({reason})", key))
            cancelled = cursor.rowcount
        if lead_id is not None:
            cancelled += self.cancel_lead(lead_id, reason=f"{address} is suppressed ({reason})")
        logger.info("suppressed %s (lead_id=%s): %s; %d unsent e-mail(s) cancelled", address, lead_id, reason,
                    cancelled)
        return cancelled

    def suppression(self, address: str) -> Suppression | None:
        """Why `address` gets no more e-mail, or None if it may be mailed."""
        with self._lock:
            return self._suppression(address)

    def _suppression(self, address: str) -> Suppression | None:
        values = self._db.execute("SELECT address, reason, lead_id, at FROM suppressions WHERE address = ?",
                                  (_address_key(address),)).fetchone()
        if values is None:
            return None
        address_key, reason, lead_id, at = values
        return Suppression(address_key, reason, lead_id, datetime.fromisoformat(at))

    def suppressions(self) -> list[Suppression]:
        with self._lock:
            return [Suppression(a, r, lead, datetime.fromisoformat(at))
                    for a, r, lead, at in self._db.execute("SELECT address, reason, lead_id, at FROM suppressions "
                                                           "ORDER BY at")]

    def unsuppress(self, address: str) -> bool:
        """Take `address` off the list (the person opted in again); cancelled rows stay cancelled."""
        with self._lock:
            removed = self._db.execute("DELETE FROM suppressions WHERE address = ?", (_address_key(address),)).rowcount
        if removed:
            logger.info("%s may be mailed again (taken off the suppression list)", address)
        return bool(removed)

    def unsubscribe_message(self, smtp_message_id: str) -> Suppression | None:
        """The one-click unsubscribe of the e-mail sent with this Message-ID: suppresses its recipient.
        None when no e-mail of ours has that id."""
        with self._lock:
            values = self._db.execute("SELECT to_addr, lead_id FROM outbox WHERE smtp_message_id = ?",
                                      (smtp_message_id.strip(),)).fetchone()
        if values is None:
            return None
        address, lead_id = values
        self.suppress(address, reason="unsubscribe: the one-click unsubscribe link", lead_id=lead_id)
        return self.suppression(address)

    def cancel_lead(self, lead_id: str, *, reason: str, before: datetime | None = None) -> int:
        """Cancel the lead's unsent rows (only those recorded before `before`, if given); returns how many."""
        query = f"UPDATE outbox SET status = 'cancelled', last_error = ? WHERE lead_id = ? AND status IN {_UNSENT}"
        args: list = [f"cancelled: {reason}", lead_id]
        if before is not None:
            query += " AND (created_at IS NULL OR created_at <= ?)"
            args.append(before.isoformat())
        with self._lock:
            cancelled = self._db.execute(query, args).rowcount
        if cancelled:
            logger.info("cancelled %d unsent e-mail(s) of lead_id=%s: %s", cancelled, lead_id, reason)
        return cancelled

    def retry_failed(self, message_id: str | None = None) -> int:
        """Give `failed` rows (of one message, if given) a fresh set of attempts, e.g. once SMTP is fixed."""
        query = "UPDATE outbox SET status = 'pending', attempts = 0, retry_at = NULL WHERE status = 'failed'"
        args: tuple = ()
        if message_id is not None:
            query += " AND message_id = ?"
            args = (message_id,)
        with self._lock:
            return self._db.execute(query, args).rowcount

    # --- sending --------------------------------------------------------------------------------

    def send_due(self, *, now: datetime | None = None, message_id: str | None = None, ignore_backoff: bool = False,
                 beat: Callable[[], None] | None = None) -> list[OutboxRow]:
        """Try every due, unsent e-mail (of one message, if given) once; returns the rows sent now.

        Never raises for one row: its failure is recorded on it (retry later, or `failed`) and the next row goes
        on. `ignore_backoff` tries rows waiting for their `retry_at` too (the caller is itself a retry);
        `beat` is called after each row, so a long batch still shows the caller alive."""
        moment = now or utc_now()
        stale = (moment - timedelta(seconds=self.stale_claim_s)).isoformat()
        self._fail_exhausted_claims(stale)
        where = ("send_at <= ? AND attempts < ? AND ((status IN ('pending', 'scheduled') AND "
                 "(retry_at IS NULL OR retry_at <= ? OR ?)) OR (status = 'sending' AND claimed_at < ?))")
        args: list = [moment.isoformat(), self.retry.attempts, moment.isoformat(), ignore_backoff, stale]
        if message_id is not None:
            where += " AND message_id = ?"
            args.append(message_id)
        with self._lock:
            due = list(self._db.execute(f"SELECT message_id, idx FROM outbox WHERE {where} ORDER BY send_at", args))
        sent: list[OutboxRow] = []
        for key in due:
            try:
                row = self._attempt(key, moment, stale)
            except Exception:  # one row's surprise must not stop the rows after it
                logger.exception("e-mail %d of message_id=%s: unexpected error while sending; next row", key[1], key[0])
                row = None
            if row is not None and row.status == "sent":
                sent.append(row)
            if beat is not None:
                beat()
        return sent

    def _fail_exhausted_claims(self, stale: str) -> None:
        """A row claimed `max_attempts` times without ever being marked sent is given up (the sender kept dying
        mid-send; it may have gone out, so it is not sent again without a person looking)."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE outbox SET status = 'failed', last_error = ? WHERE status = 'sending' AND claimed_at < ? "
                "AND attempts >= ?",
                ((f"claimed {self.retry.attempts} times and never confirmed sent (the sender stopped mid-send); "
                  "check the mailbox, then requeue it with Outbox.retry_failed"), stale, self.retry.attempts))
            if cursor.rowcount:
                logger.error("%d e-mail(s) given up after %d unconfirmed sends", cursor.rowcount,
                             self.retry.attempts)

    def _attempt(self, key: tuple[str, int], moment: datetime, stale: str) -> OutboxRow | None:
        """Claim one row and try to send it; returns it as it ends up, or None if another sender has it."""
        row = self._claim(key, moment, stale)
        if row is None:
            return None
        suppressed = self.suppression(row.to)
        if suppressed is not None:
            return self._finish(row, "cancelled", f"cancelled: {row.to} is suppressed ({suppressed.reason})")
        try:
            message = self._message(row, moment)
        except (ValueError, TypeError) as error:
            return self._finish(row, "failed", f"cannot be built into an e-mail ({type(error).__name__}: {error}); "
                                               "fix or cancel this row")
        try:
            refused = self._sender.send(message) or {}
        except InfraError as error:
            return self._failed_attempt(row, str(error), moment)
        except Exception as error:  # noqa: BLE001 — whatever the sender raises is this row's failed attempt
            return self._failed_attempt(row, f"the sender failed ({type(error).__name__}: {error})", moment)
        if refused:
            reply = "; ".join(f"{address}: {answer}" for address, answer in refused.items())
            self.suppress(row.to, reason=f"bounce: the mail server refused it ({reply})", lead_id=row.lead_id)
            return self._finish(row, "failed", f"refused for good by the mail server ({reply}); address suppressed")
        with self._lock:
            self._db.execute("UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL, retry_at = NULL "
                             "WHERE message_id = ? AND idx = ?", (utc_now().isoformat(), row.message_id, row.index))
        logger.info("sent e-mail %d of message_id=%s lead_id=%s to %s", row.index, row.message_id, row.lead_id, row.to)
        return self._get(key)

    def _failed_attempt(self, row: OutboxRow, error: str, moment: datetime) -> OutboxRow:
        if row.attempts >= self.retry.attempts:
            logger.error("e-mail %d of message_id=%s lead_id=%s failed for good after %d attempts: %s",
                         row.index, row.message_id, row.lead_id, row.attempts, error)
            return self._finish(row, "failed", f"gave up after {row.attempts} attempts; last: {error}")
        retry_at = moment + timedelta(seconds=self.retry.delay_s(row.attempts))
        with self._lock:
            self._db.execute("UPDATE outbox SET status = 'pending', claimed_at = NULL, last_error = ?, retry_at = ? "
                             "WHERE message_id = ? AND idx = ?",
                             (error, retry_at.isoformat(), row.message_id, row.index))
        logger.warning("sending e-mail %d of message_id=%s lead_id=%s failed (attempt %d of %d, next at %s): %s",
                       row.index, row.message_id, row.lead_id, row.attempts, self.retry.attempts,
                       retry_at.isoformat(timespec="seconds"), error)
        return self._get((row.message_id, row.index))

    def _finish(self, row: OutboxRow, status: RowStatus, note: str) -> OutboxRow:
        with self._lock:
            self._db.execute("UPDATE outbox SET status = ?, claimed_at = NULL, last_error = ?, retry_at = NULL "
                             "WHERE message_id = ? AND idx = ?", (status, note, row.message_id, row.index))
        log = logger.error if status == "failed" else logger.info
        log("e-mail %d of message_id=%s lead_id=%s %s: %s", row.index, row.message_id, row.lead_id, status, note)
        return self._get((row.message_id, row.index))

    def _claim(self, key: tuple[str, int], moment: datetime, stale: str) -> OutboxRow | None:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE outbox SET status = 'sending', claimed_at = ?, attempts = attempts + 1 "
                "WHERE message_id = ? AND idx = ? AND attempts < ? AND (status IN ('pending', 'scheduled') "
                "OR (status = 'sending' AND claimed_at < ?))",
                (moment.isoformat(), *key, self.retry.attempts, stale),
            )
            if cursor.rowcount != 1:
                return None
        return self._get(key)

    def _get(self, key: tuple[str, int]) -> OutboxRow:
        with self._lock:
            values = self._db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE message_id = ? AND idx = ?", key).fetchone()
        return _row(values)

    def _message(self, row: OutboxRow, moment: datetime) -> EmailMessage:
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
        targets = [f"<mailto:{self.unsubscribe_to}?subject=unsubscribe>"]
        if self.unsubscribe_url and row.smtp_message_id:
            joiner = "&" if "?" in self.unsubscribe_url else "?"
            targets.append(f"<{self.unsubscribe_url}{joiner}id={quote(row.smtp_message_id, safe='')}>")
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["List-Unsubscribe"] = ", ".join(targets)
        message.set_content(row.body)
        return message
