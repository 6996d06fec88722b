"""A local stack as one unit: `up` starts parts in order, `down` stops what `up` started.

A part is a supervised process (see `process.py`) plus what must happen around its
start: Kafka formats its storage before and creates the topics after. Which parts make
up the stack is decided by the caller (the CLI composes infrastructure and services);
this module only knows the infrastructure parts it owns. Flink has no long-lived process
locally (each job brings its own mini-cluster), so `flink_status` reports it as ready
when PyFlink and the connector jar are in place.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sdr_pipeline.contracts.topics import TOPICS
from sdr_pipeline.exceptions import InfraError, SdrPipelineError, UserError
from sdr_pipeline.infra import process, smtp
from sdr_pipeline.infra.bus import ensure_topics
from sdr_pipeline.infra.jars import fetch, flink_jars
from sdr_pipeline.infra.kafka import broker_spec, prepare_broker
from sdr_pipeline.infra.mlflow_server import mlflow_spec
from sdr_pipeline.infra.process import PartStatus, ProcessSpec
from sdr_pipeline.settings import Settings

__all__ = ["INFRA_PARTS", "Part", "down", "flink_status", "status", "up"]

logger = logging.getLogger(__name__)


def _no_hook(settings: Settings) -> None:
    return None


@dataclass(frozen=True)
class Part:
    """One supervised part of the stack."""

    name: str
    spec: Callable[[Settings], ProcessSpec]
    before_start: Callable[[Settings], object] = _no_hook
    """Runs only when the part is about to be started, never while it already runs."""
    after_start: Callable[[Settings], object] = _no_hook
    """Runs after every `up`, once the part is healthy (so it must be idempotent)."""


def _create_topics(settings: Settings) -> None:
    ensure_topics(settings.bootstrap_servers, TOPICS)


def _prepare_kafka(settings: Settings) -> None:
    fetch(settings)
    prepare_broker(settings)


INFRA_PARTS: tuple[Part, ...] = (
    Part("kafka", broker_spec, before_start=_prepare_kafka, after_start=_create_topics),
    Part("mlflow", mlflow_spec),
    Part("smtp", smtp.process_spec),
)


def _select(parts: Sequence[Part], names: Sequence[str] | None) -> list[Part]:
    if not names:
        return list(parts)
    known = {part.name: part for part in parts}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserError(f"unknown part(s): {', '.join(unknown)}", fix=f"choose from {', '.join(known)}")
    return [known[name] for name in names]


def up(settings: Settings, parts: Sequence[Part], names: Sequence[str] | None = None) -> None:
    """Start each selected part unless it already runs, in order."""
    for part in _select(parts, names):
        if process.read_pid(settings, part.name) is None:
            part.before_start(settings)
        process.start(part.spec(settings), settings)
        part.after_start(settings)


def down(settings: Settings, parts: Sequence[Part], names: Sequence[str] | None = None) -> list[str]:
    """Stop, in reverse order, the parts whose pid files `up` wrote; returns the names stopped."""
    return [part.name for part in reversed(_select(parts, names)) if process.stop(part.name, settings)]


def flink_status(settings: Settings) -> PartStatus:
    address = "mini-cluster (per job)"
    if importlib.util.find_spec("pyflink") is None:
        return PartStatus("flink", address, None, False, "pyflink not installed: run `make install`")
    try:
        jars = flink_jars(settings)
    except InfraError as error:
        return PartStatus("flink", address, None, False, str(error))
    return PartStatus("flink", address, None, True, f"connector: {jars[0].name}")


def status(settings: Settings, parts: Sequence[Part]) -> list[PartStatus]:
    rows = []
    for part in parts:
        try:
            rows.append(process.status(part.spec(settings), settings))
        except SdrPipelineError as error:  # not installed yet: say so in the row
            rows.append(PartStatus(part.name, "-", None, False, str(error)))
    return rows
