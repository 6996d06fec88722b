"""The SQLite files our services keep their state in (outbox, answers, leads).

One way to open them, so every store gets the same guarantees: autocommit (each statement
is its own transaction, so a crash never leaves half a row), WAL so a reader never blocks
the writer, a busy timeout for the rare concurrent writer, and a connection usable from the
server's worker threads (callers serialise with their own lock).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["open_state_db"]


def open_state_db(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating folder, file and tables when missing) the state database at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    return db
