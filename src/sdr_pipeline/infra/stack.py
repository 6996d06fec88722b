"""A local stack as one unit: `up` starts parts in order, `down` stops what `up` started.

A part is a supervised process (see `process.py`), or several that start together (the
Kafka nodes of a three-broker cluster), plus what must happen around its start: Kafka
formats its storage before and creates the topics after. Which parts make
up the stack is decided by the caller (the CLI composes infrastructure and services);
this module only knows the infrastructure parts it owns. On the mini-cluster (the default) Flink
has no long-lived process (each job brings its own), so the `flink` part runs nothing and
`flink_status` reports Flink ready when PyFlink and the connector jar are in place; with
SDR_FLINK_MODE=cluster the `flink` part is a session cluster (a JobManager and TaskManagers,
see `flink_cluster.py`), and before it stops, the routing job on it is stopped with a savepoint.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sdr_pipeline.contracts.topics import TOPICS
from sdr_pipeline.exceptions import InfraError, SdrPipelineError, UserError
from sdr_pipeline.infra import flink_cluster, process, smtp
from sdr_pipeline.infra.bus import ensure_topics
from sdr_pipeline.infra.jars import fetch, flink_jars
from sdr_pipeline.infra.kafka import broker_spec, broker_specs, prepare_broker
from sdr_pipeline.infra.mlflow_server import mlflow_spec
from sdr_pipeline.infra.process import PartStatus, ProcessSpec
from sdr_pipeline.settings import Settings

__all__ = ["INFRA_PARTS", "Part", "down", "flink_status", "process_names", "status", "up"]

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
    before_stop: Callable[[Settings], object] = _no_hook
    """Runs before `down` stops the part, while one of its processes still runs (a job's savepoint)."""
    members: Callable[[Settings], Sequence[ProcessSpec]] | None = None
    """For a part that runs as a cluster, all its processes (`spec` being the first): they start together,
    since each waits for a quorum of the others before it reports healthy."""

    def specs(self, settings: Settings) -> list[ProcessSpec]:
        """Every process of the part, in start order."""
        return list(self.members(settings)) if self.members is not None else [self.spec(settings)]


def _create_topics(settings: Settings) -> None:
    ensure_topics(settings.bootstrap_servers, TOPICS, replication_factor=settings.kafka_replication_factor,
                  min_insync_replicas=settings.kafka_min_insync_replicas)


def _prepare_kafka(settings: Settings) -> None:
    fetch(settings)
    prepare_broker(settings)


def _prepare_flink(settings: Settings) -> None:
    if settings.flink_mode == "cluster":
        flink_cluster.prepare_cluster(settings)


INFRA_PARTS: tuple[Part, ...] = (
    Part("kafka", broker_spec, before_start=_prepare_kafka, after_start=_create_topics, members=broker_specs),
    Part("mlflow", mlflow_spec),
    Part("smtp", smtp.process_spec),
    # no process on the mini-cluster; a JobManager and TaskManagers with SDR_FLINK_MODE=cluster
    Part("flink", flink_cluster.jobmanager_spec, before_start=_prepare_flink,
         before_stop=flink_cluster.stop_routing_jobs, members=flink_cluster.cluster_specs),
)


def _select(parts: Sequence[Part], names: Sequence[str] | None) -> list[Part]:
    if not names:
        return list(parts)
    known = {part.name: part for part in parts}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserError(f"unknown part(s): {', '.join(unknown)}", fix=f"choose from {', '.join(known)}")
    return [known[name] for name in names]


def _start_together(specs: Sequence[ProcessSpec], settings: Settings) -> None:
    """Start every spec at once and wait until all are healthy; the first failure is raised."""
    if not specs:
        return
    if len(specs) == 1:
        process.start(specs[0], settings)
        return
    with ThreadPoolExecutor(max_workers=len(specs), thread_name_prefix="start") as pool:
        futures = [pool.submit(process.start, spec, settings) for spec in specs]
    errors = [future.exception() for future in futures if future.exception() is not None]
    if errors:
        raise errors[0]


def up(settings: Settings, parts: Sequence[Part], names: Sequence[str] | None = None) -> None:
    """Start each selected part unless it already runs, in order (a cluster's members together); a member
    that is down is started again beside the running ones."""
    for part in _select(parts, names):
        specs = part.specs(settings)
        if specs and all(process.read_pid(settings, spec.name) is None for spec in specs):
            part.before_start(settings)
        _start_together(specs, settings)
        part.after_start(settings)


def _names(part: Part, settings: Settings) -> list[str]:
    """The process names of a part, in start order; a part that cannot say (not installed) has its own name."""
    if part.members is None:
        return [part.name]
    try:
        return [spec.name for spec in part.members(settings)]
    except SdrPipelineError:
        return [part.name]


def _stop_together(names: Sequence[str], settings: Settings) -> list[str]:
    """Stop every named process at once; returns those that were running.

    A cluster's members go together: stopped one by one, the last would wait for a controller quorum
    that left before it (and be killed after the stop timeout instead of shutting down cleanly)."""
    if not names:
        return []
    if len(names) == 1:
        return list(names) if process.stop(names[0], settings) else []
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="stop") as pool:
        stopped = list(pool.map(lambda name: process.stop(name, settings), names))
    return [name for name, was_running in zip(names, stopped, strict=True) if was_running]


def down(settings: Settings, parts: Sequence[Part], names: Sequence[str] | None = None) -> list[str]:
    """Stop, in reverse order, the processes whose pid files `up` wrote (a cluster's members together);
    returns the names stopped."""
    stopped = []
    for part in reversed(_select(parts, names)):
        members = list(reversed(_names(part, settings)))
        if any(process.read_pid(settings, name) is not None for name in members):
            part.before_stop(settings)
        stopped.extend(_stop_together(members, settings))
    return stopped


def process_names(settings: Settings, parts: Sequence[Part]) -> set[str]:
    """The process names behind `parts` (a cluster has several): the rows `status` shows for them."""
    return {name for part in parts for name in _names(part, settings)}


def flink_status(settings: Settings) -> PartStatus:
    """Whether Flink jobs can run: PyFlink and the connector jar in place (and, in cluster mode, where the
    cluster's Web UI is; its processes and the routing job have rows of their own)."""
    address = "mini-cluster (per job)" if settings.flink_mode == "mini" else flink_cluster.rest_url(settings)
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
            rows.extend(process.status(spec, settings) for spec in part.specs(settings))
        except SdrPipelineError as error:  # not installed yet: say so in the row
            rows.append(PartStatus(part.name, "-", None, False, str(error)))
    return rows
