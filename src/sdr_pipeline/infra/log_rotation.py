"""Size-capped logs for supervised processes: `name.log`, rotated to `name.log.1` … `name.log.N`.

A process the supervisor starts writes its output into a pipe; a small pump (this module run as
`python -m sdr_pipeline.infra.log_rotation PATH MAX_BYTES BACKUPS`) copies it into the log file and
rotates the file once it would pass MAX_BYTES, keeping BACKUPS older copies. The pump ends when the
process's side of the pipe closes, so it lives exactly as long as the process. Standard library only:
it starts next to every part of the stack.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import BinaryIO

__all__ = ["RotatingLog", "pump", "rotate"]

_READ_BYTES = 65_536
"""Longest piece read at once: a line longer than this is written in pieces."""


def rotate(path: Path, backups: int) -> None:
    """Shift `path` to `path.1`, `path.1` to `path.2`, …; the copy beyond `backups` is deleted."""
    oldest = path.with_name(f"{path.name}.{backups}")
    oldest.unlink(missing_ok=True)
    for number in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{number}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{number + 1}"))
    if path.exists():
        path.replace(path.with_name(f"{path.name}.1"))


class RotatingLog:
    """An append-only file that rotates itself before it would pass `max_bytes`."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._file = path.open("ab")
        self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        if self._size and self._size + len(data) > self.max_bytes:
            self._file.close()
            rotate(self.path, self.backups)
            self._file = self.path.open("ab")
            self._size = 0
        self._file.write(data)
        self._file.flush()  # `infra logs` and start-up errors read the file while the process runs
        self._size += len(data)

    def close(self) -> None:
        self._file.close()


def pump(source: BinaryIO, path: Path, *, max_bytes: int, backups: int) -> None:
    """Copy `source` into a rotating log at `path`, line by line, until `source` ends."""
    log = RotatingLog(path, max_bytes=max_bytes, backups=backups)
    try:
        for chunk in iter(lambda: source.readline(_READ_BYTES), b""):
            log.write(chunk)
    finally:
        log.close()


def main(argv: list[str]) -> None:
    path, max_bytes, backups = Path(argv[0]), int(argv[1]), int(argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the process it serves decides when output ends
    pump(sys.stdin.buffer, path, max_bytes=max_bytes, backups=backups)


if __name__ == "__main__":
    main(sys.argv[1:])
