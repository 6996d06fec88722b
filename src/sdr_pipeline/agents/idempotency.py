"""Remember each agent's answer per input message id, so a repeated POST changes nothing,
and which agent took each message, so no message is worked on by two.

The first successful answer is stored (after its output envelope was published) and every
later POST of the same message id gets it back. An agent claims a message before working on it
and keeps the claim once it answered; another agent asked for the same message is refused
(a replay routed differently must not send a second e-mail). A claim is given back when the
work failed before anything was published. An in-process lock per message id makes a
concurrent duplicate wait for the first instead of doing the work twice.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sdr_pipeline.contracts import utc_now
from sdr_pipeline.infra.state_db import open_state_db

__all__ = ["IdempotencyStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    agent TEXT NOT NULL,
    message_id TEXT NOT NULL,
    response TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (agent, message_id)
);
CREATE TABLE IF NOT EXISTS claims (
    message_id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    claimed_at TEXT NOT NULL
);
"""


class IdempotencyStore:
    """Stored answers keyed on (agent, message id) and claims keyed on message id, in SQLite under the state
    directory (one file for the whole agents service, so a claim holds across agents)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = open_state_db(path, _SCHEMA)
        self._key_locks: dict[str, asyncio.Lock] = {}

    def get(self, agent: str, message_id: str) -> str | None:
        """The stored answer (JSON text), or None if this message was never answered."""
        with self._lock:
            row = self._db.execute("SELECT response FROM answers WHERE agent = ? AND message_id = ?",
                                   (agent, message_id)).fetchone()
        return row[0] if row else None

    def put(self, agent: str, message_id: str, response: str) -> None:
        """Store the first answer; a later one for the same key is ignored."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO answers (agent, message_id, response, stored_at) VALUES (?, ?, ?, ?)",
                             (agent, message_id, response, utc_now().isoformat()))

    def claim(self, agent: str, message_id: str) -> str:
        """Claim `message_id` for `agent` unless another agent holds it; returns the holder."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO claims (message_id, agent, claimed_at) VALUES (?, ?, ?)",
                             (message_id, agent, utc_now().isoformat()))
            return self._db.execute("SELECT agent FROM claims WHERE message_id = ?", (message_id,)).fetchone()[0]

    def release(self, agent: str, message_id: str) -> None:
        """Give a claim back (the work failed before anything was published); an answered message keeps it."""
        with self._lock:
            self._db.execute("DELETE FROM claims WHERE message_id = ? AND agent = ? AND NOT EXISTS (SELECT 1 FROM "
                             "answers WHERE answers.message_id = claims.message_id AND answers.agent = claims.agent)",
                             (message_id, agent))

    @asynccontextmanager
    async def exclusive(self, message_id: str) -> AsyncIterator[None]:
        """Hold the per-message lock (whichever agent asks) while checking, claiming, working and storing."""
        key = message_id
        lock = self._key_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._key_locks.get(key) is lock:
                del self._key_locks[key]

    def close(self) -> None:
        self._db.close()
