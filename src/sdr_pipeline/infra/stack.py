"""The local stack as one unit: `up` starts the parts in order, `down` stops what `up` started.

A part is a supervised process (see `process.py`) plus what must happen around its start:
Kafka formats its storage before and creates the topics after. Flink has no long-lived
process locally (each job brings its own mini-cluster), so it shows up in `status` as
ready when PyFlink and the connector jar are in place.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sdr_pipeline.contracts.topics import TOPICS
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra import process
from sdr_pipeline.infra.bus import ensure_topics
from sdr_pipeline.infra.jars import fetch, flink_jars
from sdr_pipeline.infra.kafka import broker_spec, prepare_broker
from sdr_pipeline.infra.mlflow_server import mlflow_spec
from sdr_pipeline.infra.process import PartStatus, ProcessSpec
from sdr_pipeline.settings import Settings

__all__ = ["PARTS", "Part", "down", "status", "up"]

logger = logging.getLogger(__name__)


def _no_hook(settings: Settings) -> None:
    return None


@dataclass(frozen=True)
class Part:
    """One supervised part of the stack."""

    name: str
    spec: Callable[[Settings], ProcessSpec]
    before_start: Callable[[Settings], object] = _no_hook
    after_start: Callable[[Settings], object] = _no_hook


def _create_topics(settings: Settings) -> None:
    ensure_topics(settings.bootstrap_servers, TOPICS)


PARTS: tuple[Part, ...] = (
    Part("kafka", broker_spec, before_start=prepare_broker, after_start=_create_topics),
    Part("mlflow", mlflow_spec),
)


def _select(names: list[str] | None) -> list[Part]:
    if not names:
        return list(PARTS)
    known = {part.name: part for part in PARTS}
    unknown = [name for name in names if name not in known]
    if unknown:
        from sdr_pipeline.exceptions import UserError

        raise UserError(f"unknown part(s): {', '.join(unknown)}", fix=f"choose from {', '.join(known)}")
    return [known[name] for name in names]


def up(settings: Settings, parts: list[str] | None = None) -> list[PartStatus]:
    """Fetch missing jars, then start each part unless it already runs; returns their status."""
    fetch(settings)
    for part in _select(parts):
        part.before_start(settings)
        process.start(part.spec(settings), settings)
        part.after_start(settings)
    return status(settings)


def down(settings: Settings, parts: list[str] | None = None) -> list[str]:
    """Stop, in reverse order, the parts whose pid files `up` wrote; returns the names stopped."""
    return [part.name for part in reversed(_select(parts)) if process.stop(part.name, settings)]


def _flink_status(settings: Settings) -> PartStatus:
    if importlib.util.find_spec("pyflink") is None:
        return PartStatus("flink", "mini-cluster (per job)", None, False, "pyflink not installed: run `make install`")
    try:
        jars = flink_jars(settings)
    except InfraError as error:
        return PartStatus("flink", "mini-cluster (per job)", None, False, str(error))
    return PartStatus("flink", "mini-cluster (per job)", None, True, f"connector: {jars[0].name}")


def status(settings: Settings) -> list[PartStatus]:
    rows = []
    for part in PARTS:
        try:
            rows.append(process.status(part.spec(settings), settings))
        except InfraError as error:
            rows.append(PartStatus(part.name, "-", None, False, str(error)))
    rows.append(_flink_status(settings))
    return rows
