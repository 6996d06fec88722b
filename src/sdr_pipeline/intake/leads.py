"""The leads intake knows: so a repeat submission updates its lead and a reply finds its lead.

One SQLite table under the state folder, keyed on lead id with the (lower-cased) e-mail
indexed. The web form, the JSON endpoint and the bridge (for leads a CRM import wrote to
incoming_leads directly) all record what they see here.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from sdr_pipeline.contracts import Lead, utc_now
from sdr_pipeline.infra.state_db import open_state_db

__all__ = ["KnownLead", "LeadStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leads (
    lead_id TEXT PRIMARY KEY,
    email TEXT,
    lead TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS leads_email ON leads (email);
"""


@dataclass(frozen=True)
class KnownLead:
    """A lead id and the latest fields we have for it."""

    lead_id: str
    lead: Lead


class LeadStore:
    """Lead id <-> e-mail, and the latest lead fields."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = open_state_db(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def lead_id_for(self, email: str | None) -> str:
        """The id of the lead with this e-mail, or a fresh id for a new lead."""
        known = self.by_email(email) if email else None
        return known.lead_id if known else uuid.uuid4().hex

    def record(self, lead_id: str, lead: Lead) -> None:
        """Insert or update a lead's fields."""
        now = utc_now().isoformat()
        email = (lead.email or "").strip().lower() or None
        with self._lock:
            self._db.execute(
                "INSERT INTO leads (lead_id, email, lead, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (lead_id) DO UPDATE SET email = COALESCE(excluded.email, email), lead = excluded.lead, "
                "last_seen = excluded.last_seen",
                (lead_id, email, lead.model_dump_json(), now, now),
            )

    def get(self, lead_id: str) -> KnownLead | None:
        with self._lock:
            row = self._db.execute("SELECT lead_id, lead FROM leads WHERE lead_id = ?", (lead_id,)).fetchone()
        return KnownLead(row[0], Lead.model_validate_json(row[1])) if row else None

    def by_email(self, email: str) -> KnownLead | None:
        with self._lock:
            row = self._db.execute("SELECT lead_id, lead FROM leads WHERE email = ? ORDER BY last_seen DESC LIMIT 1",
                                   (email.strip().lower(),)).fetchone()
        return KnownLead(row[0], Lead.model_validate_json(row[1])) if row else None
