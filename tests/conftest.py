"""Shared fixtures: real local services on free ports, each in a throwaway state folder.

Every fixture here starts the real part (no fakes): tests marked `kafka`, `llm`, … use
them and CI runs them all. Session scope keeps start-up costs to once per run.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from sdr_pipeline.contracts.topics import TOPICS
from sdr_pipeline.infra import process
from sdr_pipeline.infra.bus import ensure_topics
from sdr_pipeline.infra.jars import fetch
from sdr_pipeline.infra.kafka import broker_spec, prepare_broker
from sdr_pipeline.settings import Settings


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def private_broker(state_dir: Path) -> Iterator[Settings]:
    """A real single-node Kafka broker with the project's topics on free ports, stopped afterwards."""
    settings = Settings(state_dir=state_dir, kafka_port=free_port(), kafka_controller_port=free_port(), kafka_brokers=1)
    fetch(settings)
    prepare_broker(settings)
    process.start(broker_spec(settings), settings)
    try:
        ensure_topics(settings.bootstrap_servers, TOPICS)
        yield settings
    finally:
        process.stop("kafka", settings)


def _free_port_run(length: int) -> int:
    """The first of `length` consecutive TCP ports nobody listens on right now."""
    for _ in range(50):
        first = free_port()
        if first + length > 65536:
            continue
        try:
            with ExitStack() as held:
                for n in range(length):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", first + n))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {length} consecutive free ports found")


@contextmanager
def private_cluster(state_dir: Path, **overrides: object) -> Iterator[Settings]:
    """A real three-node KRaft cluster with the project's topics (3 replicas, min.insync.replicas=2), started
    and stopped the way `sdr-pipeline infra up kafka` / `infra down kafka` do it, on free ports."""
    from sdr_pipeline.infra import stack

    first = _free_port_run(6)  # node n: client port first + 2(n-1), controller port one above it
    settings = Settings(state_dir=state_dir, kafka_port=first, kafka_controller_port=first + 1, kafka_brokers=3,
                        kafka_bootstrap=None, **overrides)
    try:
        stack.up(settings, stack.INFRA_PARTS, ["kafka"])
        yield settings
    finally:
        stack.down(settings, stack.INFRA_PARTS, ["kafka"])


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A real Kafka broker shared by the session; yields Settings pointing at it."""
    with private_broker(tmp_path_factory.mktemp("kafka-state")) as settings:
        yield settings


# --- LLM (owner: llm layer) -----------------------------------------------------------
# A real llama-server on a free port with a throwaway state folder; builds llama-server and
# pulls the model first if a fresh clone lacks them. Yields Settings pointing at it, so a
# test calls `make_client(llm_server_smol, use_cache=False)`.

def _llama_server_for_tests(model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    from sdr_pipeline.llm.server import scratch_server

    state_dir = tmp_path_factory.mktemp(f"llama-server-{model.split('-')[0]}")
    with scratch_server(Settings(), model, state_dir=state_dir) as server:
        yield server.settings


@pytest.fixture(scope="session")
def llm_server_smol(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """SmolLM2-135M behind llama-server: fast, for plumbing tests (routes near randomly)."""
    yield from _llama_server_for_tests("smollm2-135m-instruct-q4_1", tmp_path_factory)


@pytest.fixture(scope="session")
def llm_server_qwen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Qwen2.5-Coder-1.5B behind llama-server: the default model, for routing-quality checks."""
    yield from _llama_server_for_tests("qwen2.5-coder-1.5b-instruct-q4_k_m", tmp_path_factory)


# --- MLflow (owner: evaluation lab) ---------------------------------------------------

@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A real MLflow tracking server (SQLite backend, served artifacts) on a free port with a
    throwaway state folder; yields Settings whose `tracking_uri` points at it."""
    from sdr_pipeline.infra.mlflow_server import mlflow_spec

    settings = Settings(state_dir=tmp_path_factory.mktemp("mlflow-state"), mlflow_port=free_port(),
                        mlflow_tracking_uri=None)
    process.start(mlflow_spec(settings), settings)
    try:
        yield settings
    finally:
        process.stop("mlflow", settings)
