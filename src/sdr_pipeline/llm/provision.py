"""Everything the local LLM needs on disk: the llama-server binary and the models' weights.

`make demo` and `make test` call this through `sdr-pipeline llm setup`; when all is in
place it only checks stamps and returns in well under a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sdr_pipeline.llm.binary import ensure_llama_server
from sdr_pipeline.llm.downloads import ProgressFn, no_progress
from sdr_pipeline.llm.models import known_models
from sdr_pipeline.llm.pull import PullResult, pull_model
from sdr_pipeline.settings import Settings

__all__ = ["SetupReport", "setup"]


@dataclass(frozen=True)
class SetupReport:
    """What `setup` found or made."""

    server_binary: Path
    models: tuple[PullResult, ...]
    seconds: float


def setup(settings: Settings, *, models: list[str] | None = None, progress: ProgressFn = no_progress) -> SetupReport:
    """Build or locate llama-server, then pull `models` (default: every model in the table)."""
    started = time.monotonic()
    binary = ensure_llama_server(settings, progress=progress)
    names = models if models is not None else [spec.name for spec in known_models()]
    pulled = tuple(pull_model(settings, name, progress=progress) for name in names)
    return SetupReport(binary, pulled, time.monotonic() - started)
