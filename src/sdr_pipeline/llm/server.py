"""Run llama-server with a local model on 127.0.0.1, through the shared process supervisor.

`process_spec` describes the process (`infra up` starts it with the rest of the stack);
`serve`, `stop_server` and `server_status` are what `sdr-pipeline llm …` calls.
llama-server speaks the OpenAI chat API, including `response_format` with a JSON
schema, which it turns into a grammar so the answer always matches the schema.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sdr_pipeline.exceptions import UserError
from sdr_pipeline.infra import process
from sdr_pipeline.llm.binary import find_llama_server
from sdr_pipeline.llm.models import get_model, model_path
from sdr_pipeline.llm.provision import setup
from sdr_pipeline.llm.pull import require_model
from sdr_pipeline.settings import Settings

__all__ = ["SERVER_NAME", "RunningServer", "ServerState", "process_spec", "scratch_server", "serve", "server_status",
           "served_model", "stop_server", "wants_local_server"]

logger = logging.getLogger(__name__)

SERVER_NAME = "llama-server"
"""Process name: pid file, log file and status row."""

_HEALTH_TIMEOUT_S = 1.0
_START_TIMEOUT_S = 180.0
"""Loading the 1.1 GB default model from a cold disk cache can take a while on a small VM."""


@dataclass(frozen=True)
class ServerState:
    """What `llm status` shows."""

    address: str
    pid: int | None
    healthy: bool
    model: str | None
    """Model the running server reports, if it answers."""
    detail: str = ""


def wants_local_server(settings: Settings) -> bool:
    """True when the settings point the client at our own llama-server (what `infra up` should start)."""
    return settings.llm_provider == "local" and settings.llm_base_url is None


def _base(settings: Settings) -> str:
    return f"http://{settings.llm_host}:{settings.llm_port}"


def _healthy(settings: Settings) -> bool:
    """GET /health is 200 once the model is loaded (503 while loading)."""
    return process.http_ok(f"{_base(settings)}/health", timeout_s=_HEALTH_TIMEOUT_S)


def served_model(settings: Settings) -> str | None:
    """The model id the server on settings.llm_port reports, or None if it does not answer."""
    try:
        response = httpx.get(f"{_base(settings)}/v1/models", timeout=_HEALTH_TIMEOUT_S)
        response.raise_for_status()
        data = response.json().get("data") or []
        return str(data[0]["id"]) if data else None
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        return None


def process_spec(settings: Settings, model: str | None = None, *, check: bool = True) -> process.ProcessSpec:
    """How to run llama-server for `model` (default: settings.llm_model).

    With `check=True` a missing binary or model raises an error naming the command that
    fixes it; `check=False` builds the spec anyway (for status rows).
    """
    name = model or settings.llm_model
    spec = get_model(name)
    if check:
        path = require_model(settings, name)
        binary = find_llama_server(settings)
        if binary is None:
            raise UserError("llama-server is not built yet", fix="run: sdr-pipeline llm setup")
    else:
        path = model_path(settings, spec)
        binary = find_llama_server(settings) or SERVER_NAME
    context = min(spec.context_length, settings.llm_context)
    argv = [
        str(binary),
        "--model", str(path),
        "--alias", spec.name,  # the id clients see in responses and /v1/models
        "--host", settings.llm_host,
        "--port", str(settings.llm_port),
        "--ctx-size", str(context),
        "--threads", str(settings.llm_threads),
        "--parallel", str(settings.llm_parallel),
        "--kv-unified",  # slots share the context, so one long prompt may use all of it
        "--jinja",  # the model's own chat template
        "--no-webui",
    ]
    return process.ProcessSpec(
        name=SERVER_NAME, argv=argv, host=settings.llm_host, port=settings.llm_port, port_setting="SDR_LLM_PORT",
        health=lambda: _healthy(settings), start_timeout_s=_START_TIMEOUT_S,
    )


def serve(settings: Settings, model: str | None = None) -> tuple[int, float]:
    """Start llama-server with `model` unless it already serves it; return (pid, seconds to healthy)."""
    name = model or settings.llm_model
    spec = process_spec(settings, name)
    running = process.read_pid(settings, SERVER_NAME)
    if running is not None:
        current = served_model(settings)
        if current is not None and current != name:
            raise UserError(f"llama-server already serves {current} (pid {running})",
                            fix="run `sdr-pipeline llm stop` first, then serve the other model")
    started = time.monotonic()
    pid = process.start(spec, settings)
    return pid, time.monotonic() - started


def stop_server(settings: Settings) -> bool:
    """Stop the llama-server we started; True if one was running."""
    return process.stop(SERVER_NAME, settings)


def server_status(settings: Settings) -> ServerState:
    pid = process.read_pid(settings, SERVER_NAME)
    healthy = _healthy(settings)
    detail = "" if healthy else ("starting or unhealthy" if pid else "not running")
    return ServerState(f"{settings.llm_host}:{settings.llm_port}", pid, healthy,
                       served_model(settings) if healthy else None, detail)


@dataclass(frozen=True)
class RunningServer:
    """A llama-server started by `scratch_server`, and the settings that reach it."""

    settings: Settings
    """Copy of the caller's settings with llm_port, llm_model and state_dir pointing at this server."""
    pid: int
    start_s: float
    """Seconds from launch to a healthy /health."""


@contextmanager
def scratch_server(settings: Settings, model: str, *, state_dir: Path) -> Iterator[RunningServer]:
    """Run a private llama-server for `model` on a free port while the block runs (tests, benchmarks).

    Its pid file and log live in `state_dir`, so it never touches the server `llm serve` started.
    Builds llama-server and pulls the model first if needed.
    """
    setup(settings, models=[model])
    private = settings.model_copy(update={
        "state_dir": state_dir, "llm_port": _free_port(settings.llm_host), "llm_model": model,
        "llm_provider": "local", "llm_base_url": None,
    })
    started = time.monotonic()
    pid = process.start(process_spec(private, model), private)
    try:
        yield RunningServer(private, pid, time.monotonic() - started)
    finally:
        process.stop(SERVER_NAME, private)


def _free_port(host: str) -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
