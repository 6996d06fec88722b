"""The local model table: which GGUF files we know, where their bytes come from, what they cost.

Models are data (`data/models.json`), not code: adding a stronger GGUF means adding an
entry with its source packages, size and sha256.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sdr_pipeline.exceptions import UserError
from sdr_pipeline.settings import Settings

__all__ = ["ModelSource", "ModelSpec", "get_model", "known_models", "model_path"]


@dataclass(frozen=True)
class ModelSource:
    """One registry package holding (a part of) a model file."""

    package: str
    version: str
    member: str
    """Path of the data file inside the package's wheel."""


@dataclass(frozen=True)
class ModelSpec:
    """One local model: the file, its checksum, its context length and its (zero) price."""

    name: str
    description: str
    file_name: str
    """Name of the verified file under `settings.models_dir`."""
    size_bytes: int
    sha256: str
    """Checksum of the whole joined file."""
    context_length: int
    """Context the model was trained for; llama-server gets min(this, settings.llm_context)."""
    usd_per_1k_input: float
    usd_per_1k_output: float
    sources: tuple[ModelSource, ...]
    """Packages whose members, concatenated in this order, make the file."""


def known_models() -> tuple[ModelSpec, ...]:
    """Every model of the table, default first."""
    raw = json.loads(resources.files("sdr_pipeline.llm").joinpath("data/models.json").read_text())
    return tuple(
        ModelSpec(
            name=entry["name"], description=entry["description"], file_name=entry["file_name"],
            size_bytes=int(entry["size_bytes"]), sha256=entry["sha256"].lower(),
            context_length=int(entry["context_length"]),
            usd_per_1k_input=float(entry["usd_per_1k_input"]), usd_per_1k_output=float(entry["usd_per_1k_output"]),
            sources=tuple(ModelSource(s["package"], s["version"], s["member"]) for s in entry["sources"]),
        )
        for entry in raw["models"]
    )


def get_model(name: str) -> ModelSpec:
    """The table entry for `name`; an unknown name lists the known ones."""
    models = known_models()
    for spec in models:
        if spec.name == name:
            return spec
    raise UserError(f"unknown local model '{name}'",
                    fix="known models: " + ", ".join(spec.name for spec in models))


def model_path(settings: Settings, spec: ModelSpec) -> Path:
    """Where the verified file of `spec` lives (it may not be there yet)."""
    return settings.models_dir / spec.file_name
