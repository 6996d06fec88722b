"""Supervise local background processes: pid files, log files, health checks, clean stops.

Each part of the local stack (Kafka, MLflow, llama-server, SMTP, agents, intake) is
described by a `ProcessSpec`; `start` launches it detached with its output in
`<state>/logs/<name>.log` (rotated by size, settings log_max_bytes and log_backups) and its
pid in `<state>/run/<name>.pid`, then waits until the health check passes. `stop` ends exactly the process group that `start` created.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.settings import Settings

__all__ = ["PartStatus", "ProcessSpec", "http_ok", "is_running", "log_tail", "port_open", "read_pid", "start", "status",
           "stop"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessSpec:
    """How to run and check one long-lived local process."""

    name: str
    """Short name: the pid file, the log file and the `status` row use it."""
    argv: list[str]
    host: str
    port: int | None
    """The port it listens on, which must be free before start; None for a process that serves no port."""
    port_setting: str | None
    """Environment variable that moves the port, named in the busy-port error."""
    health: Callable[[], bool]
    """Returns True once the process serves requests; must not raise and must time out fast."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment on top of ours."""
    cwd: Path | None = None
    start_timeout_s: float = 90.0
    """How long `start` waits for the health check before giving up."""
    stop_timeout_s: float = 20.0
    """How long `stop` waits after SIGTERM before SIGKILL."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}" if self.port is not None else self.host


@dataclass(frozen=True)
class PartStatus:
    """One row of `infra status`."""

    name: str
    address: str
    pid: int | None
    """Pid from our pid file, if that process is alive."""
    healthy: bool
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "address": self.address, "pid": self.pid,
                "health": "healthy" if self.healthy else "down", "detail": self.detail}


def port_open(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout_s):
        return True
    return False


def http_ok(url: str, *, timeout_s: float = 1.0) -> bool:
    """True if GET `url` answers 200: the health check of every HTTP part of the stack."""
    import httpx

    try:
        return httpx.get(url, timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def python_service(name: str, module: str, settings: Settings, *, host: str, port: int,
                   port_setting: str) -> ProcessSpec:
    """One of our HTTP services run as `python -m module`, with our settings passed as SDR_* variables
    and `GET /health` as its health check."""
    return ProcessSpec(
        name=name, argv=[sys.executable, "-m", module], host=host, port=port, port_setting=port_setting,
        health=lambda: http_ok(f"http://{host}:{port}/health"), env=settings.to_env(), start_timeout_s=60.0,
    )


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.pid"


def _log_file(settings: Settings, name: str) -> Path:
    return settings.logs_dir / f"{name}.log"


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def read_pid(settings: Settings, name: str) -> int | None:
    """The pid `start` recorded for `name`, if that process is still alive."""
    path = _pid_file(settings, name)
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if is_running(pid) else None


def log_tail(settings: Settings, name: str, *, lines: int = 25) -> str:
    path = _log_file(settings, name)
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start(spec: ProcessSpec, settings: Settings) -> int:
    """Start `spec` unless our copy already runs; return its pid once healthy."""
    existing = read_pid(settings, spec.name)
    if existing is not None:
        if spec.health():
            logger.info("%s already running (pid %d) on %s", spec.name, existing, spec.address)
            return existing
        _wait_healthy(spec, settings, existing)
        return existing
    if spec.port is not None and port_open(spec.host, spec.port):
        raise UserError(
            f"port {spec.port} needed by {spec.name} is already taken by another process",
            fix=f"stop that process or set {spec.port_setting} to a free port",
        )
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    log_path = _log_file(settings, spec.name)
    logger.info("starting %s on %s (log: %s)", spec.name, spec.address, log_path)
    command = " ".join(arg if len(arg) < 200 else arg[:60] + "…" for arg in spec.argv)
    with log_path.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {command}\n".encode())
    # the output goes through a pipe to a pump that caps the log's size (see infra/log_rotation.py); the pump
    # ends when the process's end of the pipe closes, however the process ends
    reader, writer = os.pipe()
    try:
        pump = subprocess.Popen(  # noqa: S603 - argv is ours
            [sys.executable, "-m", "sdr_pipeline.infra.log_rotation", str(log_path), str(settings.log_max_bytes),
             str(settings.log_backups)], stdin=reader, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=_inheritable_env(), start_new_session=True,
        )
    finally:
        os.close(reader)
    try:
        process = subprocess.Popen(  # noqa: S603 - argv is ours
            spec.argv, stdout=writer, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=spec.cwd, env={**_inheritable_env(), **spec.env}, start_new_session=True,
        )
    except FileNotFoundError as error:
        raise InfraError(spec.name, f"cannot run {spec.argv[0]} ({error.strerror})",
                         fix="run `make deps` to install what is missing") from None
    finally:
        os.close(writer)
    _pid_file(settings, spec.name).write_text(str(process.pid))
    _wait_healthy(spec, settings, process.pid, pump=pump)
    return process.pid


_WORKER_ONLY_ENV = ("PYFLINK_GATEWAY_DISABLED", "_PYFLINK_CONN_INFO_PATH", "FLINK_HOME", "FLINK_CONF_DIR",
                    "FLINK_LIB_DIR", "FLINK_PLUGINS_DIR", "FLINK_OPT_DIR", "FLINK_BIN_DIR")
"""Set by PyFlink inside a process that launched its Java gateway (or ran Python functions) in-process;
a process we start is a fresh PyFlink driver that finds its own Flink, and these markers of the parent's
would forbid it to launch a gateway or point it at the parent's folders. A part that needs one of them
(the session cluster's FLINK_CONF_DIR) sets it in its own spec."""


def _inheritable_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in _WORKER_ONLY_ENV}


def _wait_healthy(spec: ProcessSpec, settings: Settings, pid: int, *, pump: subprocess.Popen | None = None) -> None:
    started = time.monotonic()
    while time.monotonic() - started < spec.start_timeout_s:
        if not is_running(pid):
            _pid_file(settings, spec.name).unlink(missing_ok=True)
            _drained(pump)
            raise InfraError(spec.name, "exited during start-up", log_tail=log_tail(settings, spec.name))
        if spec.health():
            logger.info("%s healthy after %.1f s (pid %d)", spec.name, time.monotonic() - started, pid)
            return
        time.sleep(0.25)
    _terminate_group(pid, spec.stop_timeout_s)
    _pid_file(settings, spec.name).unlink(missing_ok=True)
    _drained(pump)
    raise InfraError(spec.name, f"not healthy after {spec.start_timeout_s:.0f} s; stopped it",
                     log_tail=log_tail(settings, spec.name))


def _drained(pump: subprocess.Popen | None, timeout_s: float = 5.0) -> None:
    """Wait until the log pump of a process that ended has written its last lines (they explain the end)."""
    if pump is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            pump.wait(timeout=timeout_s)


def _terminate_group(pid: int, timeout_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and is_running(pid):
        time.sleep(0.2)
    if is_running(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    # Reap it if it is our child, so it does not linger as a zombie.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(name: str, settings: Settings, *, timeout_s: float = 20.0) -> bool:
    """Stop the process group `start` created for `name`; True if something was stopped."""
    pid = read_pid(settings, name)
    if pid is None:
        _pid_file(settings, name).unlink(missing_ok=True)
        return False
    logger.info("stopping %s (pid %d)", name, pid)
    _terminate_group(pid, timeout_s)
    _pid_file(settings, name).unlink(missing_ok=True)
    return True


def status(spec: ProcessSpec, settings: Settings) -> PartStatus:
    pid = read_pid(settings, spec.name)
    healthy = spec.health()
    detail = "" if healthy else ("starting or unhealthy" if pid else "not running")
    return PartStatus(spec.name, spec.address, pid, healthy, detail)
