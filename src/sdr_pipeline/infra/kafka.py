"""A single-node KRaft Apache Kafka broker from Maven Central jars, on 127.0.0.1 only."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from pathlib import Path

from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra.bus import broker_ready
from sdr_pipeline.infra.jars import kafka_classpath
from sdr_pipeline.infra.process import ProcessSpec
from sdr_pipeline.settings import Settings

__all__ = ["broker_spec", "new_cluster_id", "prepare_broker"]

logger = logging.getLogger(__name__)

_LOG4J2 = """\
Configuration:
  name: sdr-kafka
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: WARN
      - name: state.change.logger
        level: WARN
      - name: kafka.log.LogCleaner
        level: WARN
"""


def _kafka_dir(settings: Settings) -> Path:
    return settings.state_dir / "kafka"


def _server_properties(settings: Settings) -> str:
    host, port, controller = settings.kafka_host, settings.kafka_port, settings.kafka_controller_port
    data = (_kafka_dir(settings) / "data").resolve()
    return "\n".join([
        "# written by sdr-pipeline; edit settings (SDR_KAFKA_*) instead of this file",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{controller}",
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
        f"advertised.listeners=PLAINTEXT://{host}:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data}",
        "num.partitions=3",
        "num.network.threads=2",
        "num.io.threads=2",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=3",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.check.interval.ms=300000",
        "",
    ])


def new_cluster_id() -> str:
    """A random KRaft cluster id: 16 random bytes in URL-safe base64, as Kafka's own tool makes them.

    Like Kafka's `Uuid.randomUuid`, an id that starts with `-` is drawn again (one in 64
    would), so it reads as a value wherever it is shown or typed.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def prepare_broker(settings: Settings) -> Path:
    """Write the broker's config and format its storage on first start; returns the config path."""
    if shutil.which("java") is None:
        raise InfraError("kafka", "no Java runtime found", fix="apt-get install -y openjdk-17-jdk-headless")
    folder = _kafka_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "server.properties"
    config.write_text(_server_properties(settings))
    (folder / "log4j2.yaml").write_text(_LOG4J2)
    data = folder / "data"
    if not (data / "meta.properties").exists():
        shutil.rmtree(data, ignore_errors=True)  # a half-formatted folder from a failed first start
        cluster_id = new_cluster_id()
        # `--name=value` keeps a generated value from ever being read as an option.
        argv = ["java", "-cp", kafka_classpath(settings), f"-Dlog4j2.configurationFile={folder / 'log4j2.yaml'}",
                "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", f"--config={config}"]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)  # noqa: S603
        if result.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-10:])
            raise InfraError("kafka", "formatting the storage failed", log_tail=tail)
        logger.info("formatted Kafka storage in %s (cluster id %s)", data, cluster_id)
    return config


def broker_spec(settings: Settings) -> ProcessSpec:
    """How to run the broker; call `prepare_broker` before starting it."""
    folder = _kafka_dir(settings).resolve()
    argv = [
        "java", f"-Xmx{settings.kafka_heap_mb}m", f"-Xms{min(256, settings.kafka_heap_mb)}m",
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:ActiveProcessorCount=2", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={folder / 'log4j2.yaml'}", f"-Dkafka.logs.dir={folder / 'logs'}",
        "-cp", kafka_classpath(settings), "kafka.Kafka", str(folder / "server.properties"),
    ]
    bootstrap = f"{settings.kafka_host}:{settings.kafka_port}"
    return ProcessSpec(
        name="kafka", argv=argv, host=settings.kafka_host, port=settings.kafka_port, port_setting="SDR_KAFKA_PORT",
        health=lambda: broker_ready(bootstrap, timeout_s=2.0), start_timeout_s=90.0,
    )
