"""Locate llama-server, or build it once from the llama.cpp sources vendored in a pinned sdist.

No registry package ships a prebuilt Linux llama-server we could vouch for, so the first
run downloads the `llama-cpp-python` source archive (pinned by version and sha256 in
`data/llama_server.json`), builds only the `llama-server` target with the network off
(no prebuilt web UI, no curl) and caches the static binary under
`<cache>/llama.cpp/<version>/bin/`. A stamp records version and build flags; while it
matches, later calls return the cached binary at once.

The build is portable rather than native: x86-64 with AVX2/FMA/F16C (any CPU of the
kind CI runs on), not `-march=native`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.llm.downloads import ProgressFn, cache_lock, download_package, file_sha256, no_progress
from sdr_pipeline.settings import Settings

__all__ = ["BUILD_FLAGS", "LlamaServerSource", "build_dir", "ensure_llama_server", "find_llama_server", "load_source"]

logger = logging.getLogger(__name__)

BUILD_FLAGS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained executable to cache
    "-DGGML_NATIVE=OFF",  # portable: runs on any AVX2 machine, not only this one
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # would download the web UI at build time
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",  # the server only listens on 127.0.0.1 over plain HTTP
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
)
"""CMake flags of our build; part of the stamp, so changing them rebuilds."""

_BUILD_JOBS = 2
_BUILD_TIMEOUT_S = 3600
_STEP = re.compile(r"^\[(\d+)/(\d+)\]")


@dataclass(frozen=True)
class LlamaServerSource:
    """The pinned source archive llama-server is built from (data/llama_server.json)."""

    package: str
    version: str
    sdist_sha256: str
    source_subdir: str
    """Folder of llama.cpp inside the unpacked sdist."""


def load_source() -> LlamaServerSource:
    raw = json.loads(resources.files("sdr_pipeline.llm").joinpath("data/llama_server.json").read_text())
    return LlamaServerSource(raw["package"], raw["version"], raw["sdist_sha256"], raw["source_subdir"])


def build_dir(settings: Settings, source: LlamaServerSource | None = None) -> Path:
    """`<cache>/llama.cpp/<version>/`: binary, stamp and build log of one pinned version."""
    source = source or load_source()
    return settings.cache_dir / "llama.cpp" / source.version


def _binary(root: Path) -> Path:
    return root / "bin" / "llama-server"


def _stamp(root: Path) -> Path:
    return root / "build.stamp.json"


def _expected_stamp(source: LlamaServerSource) -> dict[str, object]:
    return {"package": source.package, "version": source.version, "sdist_sha256": source.sdist_sha256,
            "flags": list(BUILD_FLAGS)}


def find_llama_server(settings: Settings) -> Path | None:
    """The llama-server to run: `SDR_LLM_SERVER_BIN` if set, else our verified build, else None."""
    if settings.llm_server_bin is not None:
        path = settings.llm_server_bin.expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise UserError(f"SDR_LLM_SERVER_BIN={path} is not an executable file",
                            fix="point it at a llama-server binary or unset it to use our build")
        return path
    root = build_dir(settings)
    binary, stamp = _binary(root), _stamp(root)
    if not (binary.is_file() and stamp.is_file()):
        return None
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    wanted = _expected_stamp(load_source())
    if {key: recorded.get(key) for key in wanted} != wanted or recorded.get("binary_bytes") != binary.stat().st_size:
        return None
    return binary


def ensure_llama_server(settings: Settings, *, progress: ProgressFn = no_progress) -> Path:
    """Return a runnable llama-server, building it first if needed (about 8 minutes on 2 cores)."""
    found = find_llama_server(settings)
    if found is not None:
        return found
    source = load_source()
    root = build_dir(settings, source)
    with cache_lock(root.parent / f"{source.version}.lock"):
        found = find_llama_server(settings)  # another process may have finished it meanwhile
        if found is not None:
            return found
        return _build(settings, source, root, progress)


def _build(settings: Settings, source: LlamaServerSource, root: Path, progress: ProgressFn) -> Path:
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise InfraError("llama-server build", f"`{tool}` is not installed",
                             fix="install cmake and a C++ compiler (apt-get install cmake g++)")
    started = time.monotonic()
    progress("downloading llama.cpp sources", 0, None)
    archive = download_package(source.package, source.version, settings.cache_dir / "downloads", sdist=True)
    actual = file_sha256(archive)
    if actual != source.sdist_sha256:
        archive.unlink(missing_ok=True)
        raise InfraError("llama-server build", f"sha256 mismatch for {archive.name}: expected "
                         f"{source.sdist_sha256}, got {actual}; the download was removed",
                         fix="run the command again; if it repeats, the pinned sdist changed upstream")
    work = root / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    progress("unpacking llama.cpp sources", 0, None)
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    (top,) = [p for p in work.iterdir() if p.is_dir()]
    src = top / source.source_subdir
    build = work / "build"
    log_path = root / "build.log"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    # No network: with the prebuilt UI off, llama.cpp's CMake fetches nothing.
    with log_path.open("w") as log:
        _run(["cmake", "-S", str(src), "-B", str(build), *generator, *BUILD_FLAGS], log, progress, log_path)
        _run(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(_BUILD_JOBS)],
             log, progress, log_path)
    built = build / "bin" / "llama-server"
    if not built.is_file():
        raise InfraError("llama-server build", f"the build finished but {built} is missing",
                         log_tail=_tail(log_path))
    binary = _binary(root)
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    shutil.copy2(built, partial)
    partial.replace(binary)
    stamp = {**_expected_stamp(source), "binary_bytes": binary.stat().st_size,
             "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "build_seconds": round(time.monotonic() - started, 1)}
    _stamp(root).write_text(json.dumps(stamp, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    logger.info("built llama-server %s in %.0f s: %s", source.version, time.monotonic() - started, binary)
    return binary


def _run(argv: list[str], log: TextIO, progress: ProgressFn, log_path: Path) -> None:
    """Run one build step, copying its output to the log and reporting `[n/total]` steps."""
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # noqa: S603
    assert process.stdout is not None
    deadline = time.monotonic() + _BUILD_TIMEOUT_S
    for line in process.stdout:
        log.write(line)
        step = _STEP.match(line)
        if step:
            progress("building llama-server", int(step.group(1)), int(step.group(2)))
        if time.monotonic() > deadline:
            process.kill()
            break
    code = process.wait()
    log.flush()
    if code != 0:
        raise InfraError("llama-server build", f"`{' '.join(argv[:3])} …` failed with exit code {code}",
                         fix=f"full log: {log_path}", log_tail=_tail(log_path))


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
