"""Remember each agent's answer per input message id, so a repeated POST changes nothing.

The first successful answer is stored (after its output envelope was published) and every
later POST of the same message id gets it back. An in-process lock per key makes a
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
"""


class IdempotencyStore:
    """Stored answers keyed on (agent, message id), in SQLite under the state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = open_state_db(path, _SCHEMA)
        self._key_locks: dict[tuple[str, str], asyncio.Lock] = {}

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

    @asynccontextmanager
    async def exclusive(self, agent: str, message_id: str) -> AsyncIterator[None]:
        """Hold the per-message lock while checking, working and storing."""
        key = (agent, message_id)
        lock = self._key_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._key_locks.get(key) is lock:
                del self._key_locks[key]

    def close(self) -> None:
        self._db.close()
