"""A PyFlink execution environment wired for this project: jars, Python, latency knobs."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from sdr_pipeline.infra.flink_cluster import flink_home
from sdr_pipeline.infra.jars import flink_jars
from sdr_pipeline.settings import Settings

__all__ = ["make_env"]

logger = logging.getLogger(__name__)


def _usable_java_home() -> None:
    """PyFlink starts its JVM as $JAVA_HOME/bin/java when JAVA_HOME is set: one that is empty or names no JDK
    (inherited from a shell or a parent) is replaced by the JDK of the `java` on PATH, so the gateway starts."""
    home = os.environ.get("JAVA_HOME")
    if home is None or (Path(home) / "bin" / "java").is_file():
        return
    java = shutil.which("java")
    found = Path(java).resolve().parent.parent if java else None
    logger.warning("JAVA_HOME=%r has no bin/java; using %s", home, found or "the java on PATH")
    if found is not None:
        os.environ["JAVA_HOME"] = str(found)
    else:
        del os.environ["JAVA_HOME"]


def make_env(settings: Settings, *, parallelism: int | None = None, checkpointing: bool = False,
             extra: dict[str, str] | None = None):
    """A StreamExecutionEnvironment with the Kafka connector on `pipeline.jars` and our interpreter."""
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    _usable_java_home()
    config = Configuration()
    jars = flink_jars(settings)
    if settings.flink_mode == "cluster":
        # `flink run` ships the flink-python jar on pipeline.jars, which this list replaces: without it the
        # session cluster (whose lib/ lacks it) cannot even read the job's Python operators
        jars = [*jars, *sorted((flink_home() / "opt").glob("flink-python*.jar"))]
    config.set_string("pipeline.jars", ";".join(path.resolve().as_uri() for path in jars))
    if settings.flink_mode == "mini":  # a session cluster sizes its TaskManagers itself (infra/flink_cluster.py)
        # Small local mini-cluster: a modest managed memory and network footprint for a 2-core machine.
        config.set_string("taskmanager.memory.managed.size", "128m")
        config.set_string("taskmanager.memory.network.min", "32m")
        config.set_string("taskmanager.memory.network.max", "32m")
    config.set_string("python.fn-execution.bundle.time", "10")
    for key, value in (extra or {}).items():
        config.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    # Without this the Python workers may start another interpreter that lacks pyflink.
    env.set_python_executable(sys.executable)
    env.set_parallelism(parallelism or settings.flink_parallelism)
    env.set_buffer_timeout(settings.flink_buffer_timeout_ms)
    if checkpointing:
        env.enable_checkpointing(settings.flink_checkpoint_interval_ms)
    return env
