"""A Flink session cluster on this machine, from the PyFlink distribution's own scripts.

`infra up` with SDR_FLINK_MODE=cluster runs `<pyflink>/bin/jobmanager.sh start-foreground` and one
`taskmanager.sh start-foreground` per TaskManager as supervised processes (`jobmanager`, `taskmanager-1`,
`taskmanager-2`): in the foreground, so our supervisor owns each JVM (its pid, its log, its stop) rather
than Flink's daemon scripts. Their `config.yaml` is written under `<state>/flink-cluster/conf` from the
wheel's default one, every address is 127.0.0.1, the REST API and Web UI listen on SDR_FLINK_PORT, the
Python workers run our interpreter, and checkpoints and savepoints stay in the state folder.

The routing job is then submitted by the `router` part with `flink run` (see orchestrator/job.py); this
module reads the job's state from the REST API for `infra status`, and stops it with a savepoint before
the router or the cluster goes, so the next start resumes from where it stopped.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.infra.process import PartStatus, ProcessSpec, http_ok, port_open
from sdr_pipeline.settings import Settings

__all__ = ["JOB_NAME", "ClusterJob", "cluster_env", "cluster_specs", "config_dir", "flink_home", "job_status",
           "jobmanager_spec", "latest_savepoint", "prepare_cluster", "rest_url", "savepoint_dir", "status_row",
           "stop_routing_jobs", "taskmanager_names", "tasks_running"]

logger = logging.getLogger(__name__)

JOB_NAME = "sdr-pipeline router"
"""The name the routing job is submitted under; the one job this module stops and reports."""

_REST_TIMEOUT_S = 5.0
"""Timeout of one call to the JobManager's REST API."""

_LOG4J = """# written by sdr_pipeline.infra.flink_cluster at each start: to the console, which the supervisor
# captures into <state>/logs/<process>.log (rotated there); one log per process
monitorInterval = 0
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
logger.pekko.name = org.apache.pekko
logger.pekko.level = WARN
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.netty.name = org.jboss.netty.channel.DefaultChannelPipeline
logger.netty.level = OFF
# `flink run -py`: the driver's own output reaches the console already; the driver's copy of each line is noise
logger.pythondriver.name = org.apache.flink.client.python.PythonDriver
logger.pythondriver.level = WARN
# it logs the driver's whole environment, SDR_* secrets whose names Flink does not recognise as secret included
logger.pythonenv.name = org.apache.flink.client.python.PythonEnvUtils
logger.pythonenv.level = WARN
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
"""


def flink_home() -> Path:
    """The PyFlink distribution (bin/, conf/, lib/, opt/), inside the installed wheel."""
    found = importlib.util.find_spec("pyflink")
    if found is None or found.origin is None:
        raise UserError("pyflink is not installed, so no Flink session cluster can start", fix="run `make install`")
    return Path(found.origin).parent


def config_dir(settings: Settings) -> Path:
    return (settings.state_dir / "flink-cluster" / "conf").resolve()


def savepoint_dir(settings: Settings) -> Path:
    """Where `infra down` leaves the routing job's savepoints, beside its checkpoints."""
    return (settings.state_dir / "flink" / "savepoints").resolve()


def latest_savepoint(settings: Settings) -> Path | None:
    """The newest completed savepoint (one with its _metadata written), if any."""
    completed = [meta.parent for meta in savepoint_dir(settings).glob("savepoint-*/_metadata")]
    return max(completed, key=lambda path: (path / "_metadata").stat().st_mtime) if completed else None


def rest_url(settings: Settings) -> str:
    """The JobManager's REST API and Web UI."""
    return f"http://{settings.flink_host}:{settings.flink_port}"


def taskmanager_names(settings: Settings) -> list[str]:
    return [f"taskmanager-{n}" for n in range(1, settings.flink_taskmanagers + 1)]


def _config(settings: Settings) -> dict[str, object]:
    """The cluster's config.yaml: the wheel's defaults (the JVM's --add-opens for Java 17 among them), then ours."""
    defaults = yaml.safe_load((flink_home() / "conf" / "config.yaml").read_text()) or {}
    config = _flatten(defaults)
    host, work = settings.flink_host, (settings.state_dir / "flink-cluster").resolve()
    config.update({
        "jobmanager.rpc.address": host,
        "jobmanager.rpc.port": settings.flink_rpc_port,
        "jobmanager.bind-host": host,
        "taskmanager.host": host,
        "taskmanager.bind-host": host,
        "rest.address": host,
        "rest.bind-address": host,
        "rest.port": settings.flink_port,
        "rest.flamegraph.enabled": True,  # on-demand samples in the Web UI: where a Python operator spends its time
        # a small machine (2 cores): modest JVMs; RocksDB and the Python workers share each TaskManager's managed
        # memory (the workers themselves run beside the JVM)
        "jobmanager.memory.process.size": settings.flink_jobmanager_memory,
        "taskmanager.memory.process.size": settings.flink_taskmanager_memory,
        "taskmanager.memory.managed.size": "256m",
        "taskmanager.memory.network.min": "64m",
        "taskmanager.memory.network.max": "64m",
        "taskmanager.numberOfTaskSlots": settings.flink_task_slots,
        "taskmanager.load-balance.mode": "SLOTS",  # a job of parallelism 2 gets one slot on each TaskManager
        "parallelism.default": settings.flink_parallelism,
        # the Python workers (and the `flink run` driver) run this interpreter, which has our package and pyflink
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "execution.checkpointing.dir": (settings.state_dir / "flink" / "checkpoints").resolve().as_uri(),
        "execution.checkpointing.savepoint-dir": savepoint_dir(settings).as_uri(),
        "env.java.opts.client": "-Xmx384m",  # the `flink run` client only submits and watches; default: 1/4 of RAM
        "io.tmp.dirs": str(work / "tmp"),
        "web.tmpdir": str(work / "web"),
    })
    return config


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def cluster_env(settings: Settings, ident: str) -> dict[str, str]:
    """Environment for Flink's scripts (and `flink run`): our config folder, logs, pid folder, and a name."""
    return {"FLINK_CONF_DIR": str(config_dir(settings)), "FLINK_LOG_DIR": str(settings.logs_dir.resolve()),
            "FLINK_PID_DIR": str((settings.state_dir / "flink-cluster" / "run").resolve()),
            "FLINK_IDENT_STRING": ident}


def prepare_cluster(settings: Settings) -> Path:
    """Write the cluster's config folder (config.yaml, log4j for the JVMs and for `flink run`); returns it.

    Also refuses an RPC port that is taken, which the JobManager would otherwise report only in its log."""
    if port_open(settings.flink_host, settings.flink_rpc_port):
        raise UserError(f"port {settings.flink_rpc_port} needed by the Flink JobManager (RPC) is already taken",
                        fix="stop that process or set SDR_FLINK_RPC_PORT to a free port")
    folder = config_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("tmp", "web", "run"):
        (folder.parent / sub).mkdir(parents=True, exist_ok=True)
    savepoint_dir(settings).mkdir(parents=True, exist_ok=True)
    header = "# written by sdr-pipeline at each `infra up`; change settings (SDR_FLINK_*) instead of this file\n"
    (folder / "config.yaml").write_text(header + yaml.safe_dump(_config(settings), sort_keys=True, width=10_000))
    for name in ("log4j-console.properties", "log4j-cli.properties", "log4j.properties"):
        (folder / name).write_text(_LOG4J)
    (folder / "workers").write_text("\n".join([settings.flink_host] * settings.flink_taskmanagers) + "\n")
    (folder / "masters").write_text(f"{settings.flink_host}:{settings.flink_port}\n")
    return folder


def _get(settings: Settings, path: str) -> dict | list | None:
    """GET a REST resource as JSON; None if the JobManager does not answer or answers an error."""
    import httpx

    try:
        response = httpx.get(f"{rest_url(settings)}{path}", timeout=_REST_TIMEOUT_S)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def _taskmanager_listed(settings: Settings, name: str) -> bool:
    listed = _get(settings, "/taskmanagers")
    return isinstance(listed, dict) and any(tm.get("id") == name for tm in listed.get("taskmanagers", []))


def jobmanager_spec(settings: Settings) -> ProcessSpec:
    """The JobManager (dispatcher, resource manager, REST API and Web UI); healthy once the REST API answers."""
    home = flink_home()
    return ProcessSpec(
        name="jobmanager", argv=["bash", str(home / "bin" / "jobmanager.sh"), "start-foreground"],
        host=settings.flink_host, port=settings.flink_port, port_setting="SDR_FLINK_PORT",
        health=lambda: http_ok(f"{rest_url(settings)}/overview", timeout_s=2.0),
        env=cluster_env(settings, "jobmanager"), start_timeout_s=120.0, stop_timeout_s=30.0,
    )


def _taskmanager_spec(settings: Settings, name: str) -> ProcessSpec:
    home = flink_home()
    return ProcessSpec(
        name=name, argv=["bash", str(home / "bin" / "taskmanager.sh"), "start-foreground",
                         "-D", f"taskmanager.resource-id={name}"],
        host=settings.flink_host, port=None, port_setting=None,
        health=lambda: _taskmanager_listed(settings, name),  # registered at the JobManager, slots offered
        env=cluster_env(settings, name), start_timeout_s=120.0, stop_timeout_s=30.0,
    )


def cluster_specs(settings: Settings) -> list[ProcessSpec]:
    """Every process of the session cluster, the JobManager first; none on the mini-cluster (SDR_FLINK_MODE=mini),
    where each job brings its own."""
    if settings.flink_mode != "cluster":
        return []
    return [jobmanager_spec(settings), *(_taskmanager_spec(settings, name) for name in taskmanager_names(settings))]


# --- the routing job on the cluster ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterJob:
    """What the REST API says about the routing job: the figures `infra status` shows."""

    job_id: str
    state: str
    """RUNNING, RESTARTING, FAILING, ... as Flink names it."""
    parallelism: int
    """The highest parallelism of its vertices (the routing operators run at the job's parallelism)."""
    taskmanagers: int
    """TaskManagers registered with the JobManager."""
    restarts: int | None
    """numRestarts: how often the job failed over since it was submitted."""
    last_checkpoint: int | None
    """Id of the newest completed checkpoint."""
    checkpoint_age_s: float | None
    """Seconds since that checkpoint completed."""
    busiest: str | None
    """The vertex whose subtasks are the most back-pressured (its name up to the first colon)."""
    backpressure: str | None
    """That vertex's back-pressure level as Flink grades it: ok, low or high."""
    backpressure_ratio: float | None
    """Share of time its most back-pressured subtask spends waiting on the next operator."""

    def summary(self) -> str:
        parts = [self.state, f"parallelism {self.parallelism}", f"{self.taskmanagers} TaskManagers"]
        if self.restarts is not None:
            parts.append(f"{self.restarts} restarts")
        if self.last_checkpoint is not None:
            age = f" ({self.checkpoint_age_s:.0f} s ago)" if self.checkpoint_age_s is not None else ""
            parts.append(f"checkpoint {self.last_checkpoint}{age}")
        else:
            parts.append("no checkpoint yet")
        if self.busiest is not None:
            ratio = f" {self.backpressure_ratio:.0%}" if self.backpressure_ratio is not None else ""
            parts.append(f"back-pressure {self.backpressure}{ratio} at {self.busiest}")
        return " · ".join(parts)


def _routing_jobs(settings: Settings, states: tuple[str, ...]) -> list[dict]:
    overview = _get(settings, "/jobs/overview")
    if not isinstance(overview, dict):
        return []
    jobs = [job for job in overview.get("jobs", []) if job.get("name") == JOB_NAME and job.get("state") in states]
    return sorted(jobs, key=lambda job: job.get("start-time", 0), reverse=True)


_ACTIVE = ("CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "FAILING", "RECONCILING")


def job_status(settings: Settings) -> ClusterJob | None:
    """The routing job now running on the cluster (the newest, if several), or None."""
    jobs = _routing_jobs(settings, _ACTIVE)
    if not jobs:
        return None
    job_id = jobs[0]["jid"]
    details = _get(settings, f"/jobs/{job_id}") or {}
    vertices = details.get("vertices", []) if isinstance(details, dict) else []
    overview = _get(settings, "/overview") or {}
    restarts = None
    metrics = _get(settings, f"/jobs/{job_id}/metrics?get=numRestarts")
    if isinstance(metrics, list) and metrics:
        with contextlib.suppress(KeyError, ValueError, TypeError):
            restarts = int(float(metrics[0]["value"]))
    last_id = age = None
    checkpoints = _get(settings, f"/jobs/{job_id}/checkpoints")
    completed = ((checkpoints or {}).get("latest") or {}).get("completed") if isinstance(checkpoints, dict) else None
    if completed:
        last_id = completed.get("id")
        if completed.get("latest_ack_timestamp"):
            age = max(0.0, time.time() - completed["latest_ack_timestamp"] / 1000)
    busiest = level = ratio = None
    for vertex in vertices:
        pressure = _get(settings, f"/jobs/{job_id}/vertices/{vertex['id']}/backpressure")
        if not isinstance(pressure, dict) or "subtasks" not in pressure:
            continue
        worst = max((subtask.get("ratio", 0.0) for subtask in pressure["subtasks"]), default=0.0)
        if ratio is None or worst > ratio:
            busiest, level, ratio = vertex.get("name", vertex["id"]).split(":")[0], pressure.get(
                "backpressureLevel", "?"), worst
    return ClusterJob(
        job_id=job_id, state=details.get("state", jobs[0].get("state", "?")) if isinstance(details, dict) else "?",
        parallelism=max((vertex.get("parallelism", 0) for vertex in vertices), default=0),
        taskmanagers=int(overview.get("taskmanagers", 0)) if isinstance(overview, dict) else 0,
        restarts=restarts, last_checkpoint=last_id, checkpoint_age_s=age, busiest=busiest, backpressure=level,
        backpressure_ratio=ratio,
    )


def status_row(settings: Settings) -> PartStatus:
    """The `infra status` row of the routing job on the cluster, read from the REST API."""
    address = rest_url(settings)
    if not http_ok(f"{rest_url(settings)}/overview", timeout_s=2.0):
        return PartStatus("router-job", address, None, False, "the JobManager does not answer")
    job = job_status(settings)
    if job is None:
        return PartStatus("router-job", address, None, False, "no routing job on the cluster (start it: "
                                                             "`sdr-pipeline infra up router`)")
    return PartStatus("router-job", rest_url(settings), None, job.state == "RUNNING",
                      f"job {job.job_id[:8]} · {job.summary()}")


def tasks_running(settings: Settings, job_id: str) -> bool:
    """True once every vertex of the job runs: Flink calls a job RUNNING while its tasks (and their Python
    workers, tens of seconds on 2 cores) still initialise, and a savepoint can only be taken after that."""
    details = _get(settings, f"/jobs/{job_id}")
    vertices = details.get("vertices", []) if isinstance(details, dict) else []
    return bool(vertices) and details.get("state") == "RUNNING" and all(v.get("status") == "RUNNING"
                                                                         for v in vertices)


def _stop_with_savepoint(settings: Settings, job_id: str) -> Path:
    """POST /jobs/<id>/stop with our savepoint folder and follow the operation; a stop that fails (tasks still
    starting, a checkpoint in the way: the job then keeps running) is asked again until the timeout."""
    import httpx

    target = savepoint_dir(settings)
    target.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + settings.flink_savepoint_timeout_s
    failure = "no answer"
    while time.monotonic() < deadline:
        if not tasks_running(settings, job_id):
            time.sleep(1.0)
            continue
        response = httpx.post(f"{rest_url(settings)}/jobs/{job_id}/stop",
                              json={"targetDirectory": target.as_uri(), "drain": False}, timeout=_REST_TIMEOUT_S)
        if response.status_code != 202:
            raise InfraError("flink", f"stop-with-savepoint of job {job_id} refused ({response.status_code}: "
                                      f"{response.text[:300]})")
        trigger = response.json()["request-id"]
        while time.monotonic() < deadline:
            operation = _get(settings, f"/jobs/{job_id}/savepoints/{trigger}") or {}
            if (operation.get("status") or {}).get("id") == "COMPLETED":
                result = operation.get("operation") or {}
                if "location" in result:
                    return Path(result["location"].removeprefix("file:"))
                failure = (result.get("failure-cause") or {}).get("stack-trace", "?").splitlines()[0]
                logger.info("stop-with-savepoint of job %s failed (%s); asking again", job_id, failure)
                time.sleep(1.0)
                break
            time.sleep(0.5)
    raise InfraError("flink", f"the savepoint of job {job_id} did not complete within "
                              f"{settings.flink_savepoint_timeout_s:.0f} s (last failure: {failure})",
                     fix="raise SDR_FLINK_SAVEPOINT_TIMEOUT_S, or see the jobmanager log")


def stop_routing_jobs(settings: Settings) -> list[Path]:
    """Stop every routing job on the cluster with a savepoint (the next start resumes from it); returns them.

    Runs before the router or the cluster stops, and before a router start (a job left running by a client
    that died would otherwise run twice). A job whose savepoint fails is cancelled: its newest retained
    checkpoint is then where the next start resumes. Does nothing on the mini-cluster or without a JobManager."""
    if settings.flink_mode != "cluster" or not http_ok(f"{rest_url(settings)}/overview", timeout_s=2.0):
        return []
    import httpx

    savepoints = []
    for job in _routing_jobs(settings, _ACTIVE):
        job_id = job["jid"]
        try:
            savepoint = _stop_with_savepoint(settings, job_id)
        except (InfraError, httpx.HTTPError) as error:
            logger.warning("routing job %s: no savepoint (%s); cancelling it, the next start resumes from the "
                           "newest retained checkpoint", job_id, error)
            with contextlib.suppress(httpx.HTTPError):
                httpx.patch(f"{rest_url(settings)}/jobs/{job_id}?mode=cancel", timeout=_REST_TIMEOUT_S)
            continue
        logger.info("routing job %s stopped with savepoint %s", job_id, savepoint)
        savepoints.append(savepoint)
    return savepoints
