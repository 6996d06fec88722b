"""Local KRaft Apache Kafka from Maven Central jars, on 127.0.0.1 only: one node, or a cluster of three.

Each node is broker and controller in one process (`kafka`, `kafka-2`, `kafka-3`), with its own
folder under the state folder (`<state>/kafka`, `<state>/kafka-2`, ...) and its ports from
settings (see `Settings.kafka_node_ports`). The three form one static controller quorum
(`controller.quorum.voters`): the membership never changes, and since the voters' addresses
are read from the config at every start, a port moved in settings takes effect on the next
`up`. (Kafka 4.1's dynamic quorum, `--initial-controllers`, writes the addresses into the
metadata log instead; it pays off where controllers are added and removed, which never
happens here.) One cluster id, drawn once and kept in `<state>/kafka/cluster.properties`,
formats every node's storage; that file also records the broker count the storage was made
for, so switching SDR_KAFKA_BROKERS over existing storage is refused with what to do.
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.infra.bus import broker_ready
from sdr_pipeline.infra.jars import kafka_classpath
from sdr_pipeline.infra.process import ProcessSpec
from sdr_pipeline.settings import Settings

__all__ = ["KafkaNode", "broker_spec", "broker_specs", "kafka_nodes", "new_cluster_id", "prepare_broker",
           "server_properties"]

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


@dataclass(frozen=True)
class KafkaNode:
    """One local KRaft node: a broker and a controller in one process."""

    node_id: int
    name: str
    """Its process name, hence its pid file, log file and `infra status` row: kafka, kafka-2, kafka-3."""
    port: int
    """Client listener."""
    controller_port: int
    """KRaft controller listener."""
    folder: Path
    """Its config, data and logs: `<state>/<name>`."""


def kafka_nodes(settings: Settings) -> tuple[KafkaNode, ...]:
    """The local nodes settings ask for, node 1 first (node 1 keeps the single broker's names and folder)."""
    nodes = []
    for index, (port, controller_port) in enumerate(settings.kafka_node_ports):
        name = "kafka" if index == 0 else f"kafka-{index + 1}"
        nodes.append(KafkaNode(index + 1, name, port, controller_port, settings.state_dir / name))
    return tuple(nodes)


def server_properties(settings: Settings, node: KafkaNode) -> str:
    """One node's server.properties; the replication of internal topics follows the broker count."""
    host = settings.kafka_host
    voters = ",".join(f"{peer.node_id}@{host}:{peer.controller_port}" for peer in kafka_nodes(settings))
    replicas, min_isr = settings.kafka_replication_factor, settings.kafka_min_insync_replicas
    data = (node.folder / "data").resolve()
    return "\n".join([
        "# written by sdr-pipeline; edit settings (SDR_KAFKA_*) instead of this file",
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        f"controller.quorum.voters={voters}",
        f"listeners=PLAINTEXT://{host}:{node.port},CONTROLLER://{host}:{node.controller_port}",
        f"advertised.listeners=PLAINTEXT://{host}:{node.port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data}",
        "num.partitions=3",
        "num.network.threads=2",
        "num.io.threads=2",
        "auto.create.topics.enable=false",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={replicas}",
        "offsets.topic.num.partitions=3",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={min_isr}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={min_isr}",
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


def _cluster_record(settings: Settings) -> Path:
    return settings.state_dir / "kafka" / "cluster.properties"


def _read_record(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _formatted(node: KafkaNode) -> bool:
    return (node.folder / "data" / "meta.properties").exists()


def _cluster_id(settings: Settings, nodes: tuple[KafkaNode, ...]) -> str:
    """The id every node is formatted with: the recorded one while any node has storage, else a new one.

    Refuses storage made for another broker count: a single node's storage under three nodes (or the
    reverse) would hold partitions whose replicas are nowhere."""
    record_path = _cluster_record(settings)
    formatted = [node for node in nodes if _formatted(node)]
    if formatted:
        # storage from before the record existed is the single broker's, with the id in its meta.properties
        record = (_read_record(record_path) if record_path.exists()
                  else {**_read_record(formatted[0].folder / "data" / "meta.properties"), "brokers": "1"})
        made_for = int(record.get("brokers", "1"))
        if made_for != len(nodes):
            raise UserError(
                f"the Kafka storage under {settings.state_dir} was made for {made_for} broker(s), "
                f"but SDR_KAFKA_BROKERS={len(nodes)}",
                fix=f"set SDR_KAFKA_BROKERS={made_for}, or run `sdr-pipeline infra down kafka` and delete "
                    f"{settings.state_dir}/kafka* to start an empty cluster (its topics and messages are lost)")
        return record["cluster.id"]
    cluster_id = new_cluster_id()
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(f"# written by sdr-pipeline when the storage was formatted\ncluster.id={cluster_id}\n"
                           f"brokers={len(nodes)}\n")
    return cluster_id


def prepare_broker(settings: Settings) -> list[Path]:
    """Write each node's config and format the storage of those that have none; returns the config paths.

    The nodes are formatted at once (one JVM each), all with the one cluster id."""
    if shutil.which("java") is None:
        raise InfraError("kafka", "no Java runtime found", fix="apt-get install -y openjdk-17-jdk-headless")
    nodes = kafka_nodes(settings)
    cluster_id = _cluster_id(settings, nodes)
    configs, formatting = [], []
    for node in nodes:
        node.folder.mkdir(parents=True, exist_ok=True)
        config = node.folder / "server.properties"
        config.write_text(server_properties(settings, node))
        (node.folder / "log4j2.yaml").write_text(_LOG4J2)
        configs.append(config)
        if not _formatted(node):
            shutil.rmtree(node.folder / "data", ignore_errors=True)  # a half-formatted folder from a failed start
            # `--name=value` keeps a generated value from ever being read as an option.
            argv = ["java", "-cp", kafka_classpath(settings),
                    f"-Dlog4j2.configurationFile={node.folder / 'log4j2.yaml'}", "kafka.tools.StorageTool", "format",
                    f"--cluster-id={cluster_id}", f"--config={config}"]
            tool = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # noqa: S603
            formatting.append((node, tool))
    failures = []
    for node, tool in formatting:
        try:
            output, _ = tool.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            tool.kill()
            output, _ = tool.communicate()
        if tool.returncode != 0:
            shutil.rmtree(node.folder / "data", ignore_errors=True)
            failures.append((node, "\n".join(output.splitlines()[-10:])))
        else:
            logger.info("formatted the storage of Kafka node %d in %s (cluster id %s)", node.node_id,
                        node.folder / "data", cluster_id)
    if failures:
        node, tail = failures[0]
        raise InfraError(node.name, "formatting the storage failed", log_tail=tail)
    return configs


def _node_spec(settings: Settings, node: KafkaNode) -> ProcessSpec:
    folder = node.folder.resolve()
    argv = [
        "java", f"-Xmx{settings.kafka_heap_mb}m", f"-Xms{min(256, settings.kafka_heap_mb)}m",
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:ActiveProcessorCount=2", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={folder / 'log4j2.yaml'}", f"-Dkafka.logs.dir={folder / 'logs'}",
        "-cp", kafka_classpath(settings), "kafka.Kafka", str(folder / "server.properties"),
    ]
    address = f"{settings.kafka_host}:{node.port}"
    return ProcessSpec(
        name=node.name, argv=argv, host=settings.kafka_host, port=node.port, port_setting="SDR_KAFKA_PORT",
        health=lambda: broker_ready(address, timeout_s=2.0), start_timeout_s=90.0,
    )


def broker_specs(settings: Settings) -> list[ProcessSpec]:
    """How to run every local node; call `prepare_broker` first. Start them together: a node of three
    serves clients only once a majority of the controllers has elected a leader."""
    return [_node_spec(settings, node) for node in kafka_nodes(settings)]


def broker_spec(settings: Settings) -> ProcessSpec:
    """How to run node 1 (the whole of a single-broker setup); call `prepare_broker` before starting it."""
    return _node_spec(settings, kafka_nodes(settings)[0])
