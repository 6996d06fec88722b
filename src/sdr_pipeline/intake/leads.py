"""The leads intake knows: so a repeat submission finds its lead, a reply finds its lead, and send_email
mails only the addresses recorded here.

SQLite tables under the state folder (so they survive a restart): `leads`, keyed on lead id
with the (lower-cased) e-mail indexed, which the web form, the JSON endpoint and the bridge
(for leads a CRM import wrote to incoming_leads directly) all record what they see in; and
`submissions`, one row per accepted submission, which makes intake idempotent: a form token
or `Idempotency-Key` seen before, or an e-mail address accepted within the dedup window,
gets the lead and message accepted first instead of a second lead.

A lead's address, once recorded, never changes (a later record with another address keeps the
first): the address is what send_email may write to. `threads` gives each lead an opaque random
token that our Message-IDs carry instead of its id, and `reply_addresses` keeps the colleagues
whose replies to one of our signed Message-IDs verified; `addresses(lead_id)` answers both.

A publish that failed (or whose process died) may still have reached the topic (a timed-out
send can be delivered later), so the retry of such a submission publishes the very same
message id again, never a new one: downstream deduplication on message_id then drops the copy.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sdr_pipeline.contracts import Lead, LeadAddresses, new_message_id, utc_now
from sdr_pipeline.infra.state_db import open_state_db

__all__ = ["Admission", "KnownLead", "LeadStore"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leads (
    lead_id TEXT PRIMARY KEY,
    email TEXT,
    lead TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS leads_email ON leads (email);
CREATE TABLE IF NOT EXISTS submissions (
    message_id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    email TEXT,
    token TEXT UNIQUE,
    fingerprint TEXT NOT NULL,
    accepted_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    state_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_email ON submissions (email, accepted_at);
CREATE INDEX IF NOT EXISTS submissions_accepted ON submissions (accepted_at);
CREATE TABLE IF NOT EXISTS threads (
    token TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS reply_addresses (
    lead_id TEXT NOT NULL,
    email TEXT NOT NULL,
    verified_at TEXT NOT NULL,
    PRIMARY KEY (lead_id, email)
);
CREATE INDEX IF NOT EXISTS reply_addresses_email ON reply_addresses (email);
"""

_PENDING_GIVE_UP_S = 60.0
"""A submission still `pending` after this long died with its process (a publish takes at most ~20 s): its
retry is published again (`resend`) instead of answered as if it were on the topic."""

Outcome = Literal["new", "resend", "same_key", "same_email", "key_conflict"]


def _in_flight(state: str, state_at: float, now: float) -> bool:
    """Admitted and being published right now (by a concurrent request), not failed or dead."""
    return state == "pending" and now - state_at < _PENDING_GIVE_UP_S


@dataclass(frozen=True)
class KnownLead:
    """A lead id and the latest fields we have for it."""

    lead_id: str
    lead: Lead


@dataclass(frozen=True)
class Admission:
    """What intake decided for one submission: publish a new message, or answer with the one accepted before."""

    outcome: Outcome
    """`new`: publish it; `resend`: publish it again with the ids of an attempt that failed or died; `same_key`:
    this form token / Idempotency-Key was accepted before; `same_email`: a lead with this address was accepted
    within the window; `key_conflict`: the key was used for a different lead."""
    lead_id: str
    message_id: str
    accepted_at: float
    """When the answered submission was accepted (epoch seconds)."""

    @property
    def to_publish(self) -> bool:
        """Intake must publish this admission's message (and then call `published` or `failed`)."""
        return self.outcome in ("new", "resend")


class LeadStore:
    """Lead id <-> e-mail, and the latest lead fields."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = open_state_db(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def admit(self, *, email: str, fingerprint: str, token: str | None, window_s: float, ttl_s: float,
              now: float | None = None) -> Admission:
        """Decide, atomically (two identical clicks at once get one lead), whether a submission is new.

        `fingerprint` identifies the content: a token reused with other content is a `key_conflict`.
        Rows older than both `ttl_s` and `window_s` are forgotten here.
        """
        now = time.time() if now is None else now
        email = email.strip().lower()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                admission = self._admit(email, fingerprint, token, window_s=window_s, ttl_s=ttl_s, now=now)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return admission

    def _admit(self, email: str, fingerprint: str, token: str | None, *, window_s: float, ttl_s: float,
               now: float) -> Admission:
        db = self._db
        db.execute("DELETE FROM submissions WHERE accepted_at < ?", (now - max(ttl_s, window_s),))
        columns = "message_id, lead_id, accepted_at, fingerprint, state, state_at"
        if token is not None:
            row = db.execute(f"SELECT {columns} FROM submissions WHERE token = ?", (token,)).fetchone()
            if row:
                return self._again(row, "same_key", now=now) if row[3] == fingerprint else \
                    Admission("key_conflict", row[1], row[0], row[2])
        row = None
        if window_s > 0:
            row = db.execute(f"SELECT {columns} FROM submissions WHERE email = ? AND accepted_at >= ? "
                             "ORDER BY accepted_at DESC LIMIT 1", (email, now - window_s)).fetchone()
            if row and row[3] == fingerprint:
                return self._again(row, "same_email", now=now)
            if row and (row[4] == "published" or _in_flight(row[4], row[5], now)):
                return Admission("same_email", row[1], row[0], row[2])
            # else: an earlier, different submission never made it; this one replaces it, for the same lead
        known = row or db.execute("SELECT NULL, lead_id FROM leads WHERE email = ? ORDER BY last_seen DESC LIMIT 1",
                                  (email,)).fetchone()
        admission = Admission("new", known[1] if known else uuid.uuid4().hex, new_message_id(), now)
        db.execute("INSERT INTO submissions (message_id, lead_id, email, token, fingerprint, accepted_at, state_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (admission.message_id, admission.lead_id, email, token, fingerprint, now, now))
        return admission

    def _again(self, row: tuple, outcome: Outcome, *, now: float) -> Admission:
        """A repeat of an earlier submission: answered with it, or published again if that one never made it."""
        message_id, lead_id, accepted_at, _fingerprint, state, state_at = row
        if state == "published" or _in_flight(state, state_at, now):
            return Admission(outcome, lead_id, message_id, accepted_at)
        self._db.execute("UPDATE submissions SET state = 'pending', state_at = ? WHERE message_id = ?",
                         (now, message_id))
        return Admission("resend", lead_id, message_id, accepted_at)

    def published(self, admission: Admission, *, now: float | None = None) -> None:
        """The admitted message is on the topic: it now answers repeats for the whole window."""
        self._set_state(admission, "published", now)

    def failed(self, admission: Admission, *, now: float | None = None) -> None:
        """The publish failed (it may still arrive late): the person's retry publishes the same message again."""
        self._set_state(admission, "failed", now)

    def _set_state(self, admission: Admission, state: str, now: float | None) -> None:
        with self._lock:
            self._db.execute("UPDATE submissions SET state = ?, state_at = ? WHERE message_id = ?",
                             (state, time.time() if now is None else now, admission.message_id))

    def record(self, lead_id: str, lead: Lead) -> None:
        """Insert or update a lead's fields; an address already recorded for the lead is kept."""
        now = utc_now().isoformat()
        email = (lead.email or "").strip().lower() or None
        with self._lock:
            row = self._db.execute("SELECT email FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()
            if row and row[0] and row[0] != email:
                logger.warning("lead_id=%s: a record with another address (%s) keeps the recorded one (%s)",
                               lead_id, email, row[0])
                lead = lead.model_copy(update={"email": row[0]})
            self._db.execute(
                "INSERT INTO leads (lead_id, email, lead, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (lead_id) DO UPDATE SET email = COALESCE(email, excluded.email), lead = excluded.lead, "
                "last_seen = excluded.last_seen",
                (lead_id, email, lead.model_dump_json(), now, now),
            )

    def get(self, lead_id: str) -> KnownLead | None:
        with self._lock:
            row = self._db.execute("SELECT lead_id, lead FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()
        return KnownLead(row[0], Lead.model_validate_json(row[1])) if row else None

    def by_email(self, email: str) -> KnownLead | None:
        """The lead whose own address, or else a verified reply address, is `email` (the latest seen)."""
        address = email.strip().lower()
        with self._lock:
            row = self._db.execute("SELECT lead_id, lead FROM leads WHERE email = ? ORDER BY last_seen DESC LIMIT 1",
                                   (address,)).fetchone()
            if row is None:
                row = self._db.execute(
                    "SELECT leads.lead_id, leads.lead FROM reply_addresses JOIN leads USING (lead_id) "
                    "WHERE reply_addresses.email = ? ORDER BY reply_addresses.verified_at DESC LIMIT 1",
                    (address,)).fetchone()
        return KnownLead(row[0], Lead.model_validate_json(row[1])) if row else None

    # --- what send_email may write to, and how a reply finds its lead -------------------------

    def thread(self, lead_id: str) -> str:
        """The lead's opaque token for our Message-IDs, made (random, 20 hex characters) the first time."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO threads (token, lead_id) VALUES (?, ?)",
                             (secrets.token_hex(10), lead_id))
            return self._db.execute("SELECT token FROM threads WHERE lead_id = ?", (lead_id,)).fetchone()[0]

    def by_thread(self, token: str) -> KnownLead | None:
        """The lead a thread token (from a verified In-Reply-To) belongs to."""
        with self._lock:
            row = self._db.execute("SELECT lead_id FROM threads WHERE token = ?", (token,)).fetchone()
        return self.get(row[0]) if row else None

    def add_reply_address(self, lead_id: str, email: str) -> bool:
        """Record a colleague whose reply verified as an address send_email may answer; True if it is new."""
        with self._lock:
            cursor = self._db.execute("INSERT OR IGNORE INTO reply_addresses (lead_id, email, verified_at) "
                                      "VALUES (?, ?, ?)", (lead_id, email.strip().lower(), utc_now().isoformat()))
        return cursor.rowcount == 1

    def addresses(self, lead_id: str) -> LeadAddresses | None:
        """Every address send_email may write to for the lead, and its thread token; None for an unknown lead."""
        with self._lock:
            row = self._db.execute("SELECT email FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()
            replies = [email for (email,) in self._db.execute(
                "SELECT email FROM reply_addresses WHERE lead_id = ? ORDER BY verified_at", (lead_id,))]
        if row is None:
            return None
        return LeadAddresses(lead_id=lead_id, email=row[0], reply_addresses=tuple(replies), thread=self.thread(lead_id))
