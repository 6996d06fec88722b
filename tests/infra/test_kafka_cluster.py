"""Three-broker Kafka (SDR_KAFKA_BROKERS=3): ports, node configs, replication from the broker count, and a
real cluster that loses a broker to kill -9 without losing an acknowledged record."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from sdr_pipeline.contracts.topics import AGENT_MESSAGES, TOPICS, TopicSpec
from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.infra import bus, kafka, process, stack
from sdr_pipeline.infra.bus import KafkaBus, producer_config, topic_replication
from sdr_pipeline.infra.process import ProcessSpec
from sdr_pipeline.settings import Settings
from tests.conftest import private_cluster


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


# --- settings: broker count, ports, replication ---------------------------------------------

def test_three_brokers_take_interleaved_ports_and_all_are_bootstrap_servers():
    settings = Settings(_env_file=None, kafka_brokers=3)
    assert settings.kafka_node_ports == ((9092, 9093), (9094, 9095), (9096, 9097))
    assert settings.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert Settings(_env_file=None).bootstrap_servers == "127.0.0.1:9092"


def test_an_external_cluster_is_used_as_given():
    settings = Settings(_env_file=None, kafka_brokers=3, kafka_bootstrap="a:9092,b:9092,c:9092")
    assert settings.bootstrap_servers == "a:9092,b:9092,c:9092"
    assert settings.kafka_replication_factor == 3


def test_the_broker_count_comes_from_the_environment_and_only_one_or_three_is_allowed(monkeypatch):
    monkeypatch.setenv("SDR_KAFKA_BROKERS", "3")
    assert Settings(_env_file=None).kafka_brokers == 3
    monkeypatch.setenv("SDR_KAFKA_BROKERS", "2")
    with pytest.raises(ValidationError, match="SDR_KAFKA_BROKERS to 1 .* or 3"):
        Settings(_env_file=None)


@pytest.mark.parametrize(("port", "controller"), [(9092, 9094), (9092, 9096), (65532, 9093)])
def test_ports_that_would_meet_or_overflow_are_refused(port, controller):
    with pytest.raises(ValidationError, match="SDR_KAFKA_CONTROLLER_PORT"):
        Settings(_env_file=None, kafka_brokers=3, kafka_port=port, kafka_controller_port=controller)
    Settings(_env_file=None, kafka_brokers=1, kafka_port=port, kafka_controller_port=controller)  # one node: apart


@pytest.mark.parametrize(("brokers", "replicas", "min_isr"), [(1, 1, 1), (3, 3, 2)])
def test_replication_follows_the_broker_count(brokers, replicas, min_isr):
    settings = Settings(_env_file=None, kafka_brokers=brokers)
    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (replicas, min_isr)


# --- node configs and storage ------------------------------------------------------------------

def test_each_of_three_nodes_has_its_own_name_folder_and_listeners_and_one_shared_quorum(tmp_path):
    settings = Settings(_env_file=None, state_dir=tmp_path, kafka_brokers=3, kafka_port=30000,
                        kafka_controller_port=30001)
    nodes = kafka.kafka_nodes(settings)
    assert [node.name for node in nodes] == ["kafka", "kafka-2", "kafka-3"]
    assert [node.folder for node in nodes] == [tmp_path / "kafka", tmp_path / "kafka-2", tmp_path / "kafka-3"]
    props = [_props(kafka.server_properties(settings, node)) for node in nodes]
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in props} == {"1@127.0.0.1:30001,2@127.0.0.1:30003,3@127.0.0.1:30005"}
    assert [p["listeners"] for p in props] == [
        f"PLAINTEXT://127.0.0.1:{30000 + 2 * n},CONTROLLER://127.0.0.1:{30001 + 2 * n}" for n in range(3)]
    assert [p["log.dirs"] for p in props] == [str((node.folder / "data").resolve()) for node in nodes]
    for p in props:
        assert p["process.roles"] == "broker,controller"
        for key in ("default.replication.factor", "offsets.topic.replication.factor",
                    "transaction.state.log.replication.factor", "share.coordinator.state.topic.replication.factor"):
            assert p[key] == "3", key
        for key in ("min.insync.replicas", "transaction.state.log.min.isr", "share.coordinator.state.topic.min.isr"):
            assert p[key] == "2", key


def test_a_single_node_keeps_its_replication_of_one(tmp_path):
    settings = Settings(_env_file=None, state_dir=tmp_path)
    (node,) = kafka.kafka_nodes(settings)
    props = _props(kafka.server_properties(settings, node))
    assert node.name == "kafka" and props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1" and props["transaction.state.log.min.isr"] == "1"


@pytest.mark.parametrize(("made_for", "asked"), [(1, 3), (3, 1)])
def test_storage_made_for_another_broker_count_is_refused_with_the_fix(tmp_path, made_for, asked):
    meta = tmp_path / "kafka" / "data" / "meta.properties"
    meta.parent.mkdir(parents=True)
    meta.write_text("cluster.id=EBAQEBAQEBAQEBAQEBAQEA\nnode.id=1\n")
    if made_for == 3:  # a three-node cluster's record; a single broker's storage from before has none
        (tmp_path / "kafka" / "cluster.properties").write_text("cluster.id=EBAQEBAQEBAQEBAQEBAQEA\nbrokers=3\n")
    with pytest.raises(UserError, match=f"made for {made_for} broker.*SDR_KAFKA_BROKERS={asked}.*delete"):
        kafka.prepare_broker(Settings(_env_file=None, state_dir=tmp_path, kafka_brokers=asked))


# --- the stack starts and stops a cluster's members together ---------------------------------

def _fake_spec(name: str) -> ProcessSpec:
    return ProcessSpec(name=name, argv=["true"], host="127.0.0.1", port=None, port_setting=None, health=lambda: True)


def test_cluster_members_start_together_and_stop_together(monkeypatch, tmp_path):
    """Each member waits for the others (as a node waits for a controller quorum): one by one would hang."""
    members = [_fake_spec(name) for name in ("kafka", "kafka-2", "kafka-3")]
    part = stack.Part("kafka", lambda s: members[0], members=lambda s: members)
    starting, stopping = threading.Barrier(3, timeout=5), threading.Barrier(3, timeout=5)
    started, stopped = [], []
    monkeypatch.setattr(process, "read_pid", lambda settings, name: None)
    monkeypatch.setattr(process, "start", lambda spec, settings: (starting.wait(), started.append(spec.name)))
    monkeypatch.setattr(process, "stop", lambda name, settings: (stopping.wait(), stopped.append(name)) and True)
    settings = Settings(_env_file=None, state_dir=tmp_path)
    stack.up(settings, [part])
    assert sorted(started) == ["kafka", "kafka-2", "kafka-3"]
    assert stack.down(settings, [part]) == ["kafka-3", "kafka-2", "kafka"]
    assert stack.process_names(settings, [part]) == {"kafka", "kafka-2", "kafka-3"}


def test_the_kafka_part_runs_one_process_per_node(monkeypatch, tmp_path):
    monkeypatch.setattr(kafka, "kafka_classpath", lambda settings: "jars/*")
    (part,) = [part for part in stack.INFRA_PARTS if part.name == "kafka"]
    settings = Settings(_env_file=None, state_dir=tmp_path, kafka_brokers=3)
    specs = part.specs(settings)
    assert [(spec.name, spec.port) for spec in specs] == [("kafka", 9092), ("kafka-2", 9094), ("kafka-3", 9096)]
    assert part.spec(settings).name == "kafka"
    assert [spec.name for spec in part.specs(Settings(_env_file=None, state_dir=tmp_path))] == ["kafka"]


# --- topics and producers --------------------------------------------------------------------

class _Admin:
    """Stands in for kafka-python's admin client: records the topics asked for, refuses those in `refuse`."""

    created: dict[str, dict] = {}
    refuse: set[str] = set()

    def __init__(self, **config: object) -> None:
        pass

    def list_topics(self) -> list[str]:
        return ["exists_already"]

    def create_topics(self, new_topics: dict, **options: object) -> dict:
        type(self).created = new_topics
        return {"topics": [{"name": name, "error_code": 38 if name in self.refuse else 0} for name in new_topics]}

    def wait_for_topics(self, names: list[str], timeout_ms: int) -> None:
        pass

    def close(self) -> None:
        pass


def test_topics_are_created_with_the_replication_asked_for(monkeypatch):
    import kafka as kafka_python

    monkeypatch.setattr(kafka_python, "KafkaAdminClient", _Admin)
    specs = [TopicSpec("a", 3, {"retention.ms": "1000"}), TopicSpec("b", 1, {"min.insync.replicas": "3"}),
             TopicSpec("exists_already", 1)]
    assert bus.ensure_topics("127.0.0.1:1", specs, replication_factor=3, min_insync_replicas=2) == ["a", "b"]
    assert _Admin.created == {
        "a": {"num_partitions": 3, "replication_factor": 3,
              "configs": {"min.insync.replicas": "2", "retention.ms": "1000"}},
        "b": {"num_partitions": 1, "replication_factor": 3, "configs": {"min.insync.replicas": "3"}},  # the spec's own
    }
    bus.ensure_topics("127.0.0.1:1", specs[:1])
    assert _Admin.created == {"a": {"num_partitions": 3, "replication_factor": 1, "configs": {"retention.ms": "1000"}}}


def test_a_topic_the_cluster_refuses_names_the_broker_count_setting(monkeypatch):
    import kafka as kafka_python

    monkeypatch.setattr(kafka_python, "KafkaAdminClient", _Admin)
    monkeypatch.setattr(_Admin, "refuse", {"a"})
    with pytest.raises(InfraError, match="refused to create topics with 3 replicas.*a: InvalidReplicationFactor.*"
                                         "SDR_KAFKA_BROKERS"):
        bus.ensure_topics("127.0.0.1:1", [TopicSpec("a", 3)], replication_factor=3, min_insync_replicas=2)


def test_every_producer_of_ours_is_idempotent_with_acks_all_and_a_bounded_delivery():
    config = producer_config("127.0.0.1:9092", client_id="x", send_timeout_s=12.5)
    assert config["enable_idempotence"] is True and config["acks"] == "all"
    assert "retries" not in config  # unbounded retries, ended by the delivery timeout (idempotence dedups them)
    assert config["delivery_timeout_ms"] == config["request_timeout_ms"] == 12_500


def test_compose_runs_the_same_three_node_quorum():
    import yaml

    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    nodes = {name: svc["environment"] for name, svc in compose["services"].items()
             if svc.get("image", "").startswith("apache/kafka:")}
    assert sorted(nodes) == ["kafka", "kafka-2", "kafka-3"]
    assert sorted(env["KAFKA_NODE_ID"] for env in nodes.values()) == ["1", "2", "3"]
    for env in nodes.values():
        assert env["CLUSTER_ID"] == nodes["kafka"]["CLUSTER_ID"] and not env["CLUSTER_ID"].startswith("-")
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
    app_env = compose["services"]["agents"]["environment"]
    assert app_env["SDR_KAFKA_BOOTSTRAP"] == "kafka:19092,kafka-2:19092,kafka-3:19092"
    assert Settings(_env_file=None, kafka_brokers=int(app_env["SDR_KAFKA_BROKERS"])).kafka_min_insync_replicas == 2
    host_ports = sorted(int(compose["services"][name]["ports"][0].split(":")[1]) for name in nodes)
    assert host_ports == [port for port, _ in Settings(_env_file=None, kafka_brokers=3).kafka_node_ports]


# --- a real cluster ---------------------------------------------------------------------------

def _leader_of(settings: Settings, topic: str, partition: int) -> int:
    (described,) = topic_replication(settings.bootstrap_servers, [topic])
    return described.partitions[partition].leader


def _wait_until(condition, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout_s:.0f} s")
        time.sleep(0.5)


@pytest.mark.kafka
@pytest.mark.slow
def test_three_brokers_lose_no_acknowledged_record_to_a_kill_9(tmp_path: Path) -> None:
    with private_cluster(tmp_path / "state", kafka_heap_mb=256) as settings:
        names = [spec.name for spec in TOPICS]
        described = {topic.name: topic for topic in topic_replication(settings.bootstrap_servers, names)}
        assert set(described) == set(names)
        for topic in described.values():
            assert topic.min_insync_replicas == 2, topic.name
            assert all(sorted(p.replicas) == [1, 2, 3] for p in topic.partitions), topic
            assert not topic.under_replicated, topic

        publisher = KafkaBus(settings.bootstrap_servers, client_id="cluster-test")
        try:
            assert publisher._producer.config["enable_idempotence"] and publisher._producer.config["acks"] == -1
            sent = [f"before-{n}".encode() for n in range(30)]
            for n, value in enumerate(sent):
                publisher.publish(AGENT_MESSAGES, value, key=f"lead-{n}")

            victim = {1: "kafka", 2: "kafka-2", 3: "kafka-3"}[_leader_of(settings, AGENT_MESSAGES, 0)]
            pid = process.read_pid(settings, victim)
            assert pid is not None
            os.killpg(pid, signal.SIGKILL)  # no controlled shutdown: the leader of partition 0 just vanishes
            _wait_until(lambda: process.read_pid(settings, victim) is None, timeout_s=10, what=f"{victim} gone")

            for n in range(30):  # every one acknowledged by 2 of 3 replicas, while the cluster elects new leaders
                value = f"after-{n}".encode()
                publisher.publish(AGENT_MESSAGES, value, key=f"lead-{n}")
                sent.append(value)
            received = [record.value for record in publisher.read([AGENT_MESSAGES], idle_timeout_s=3.0)]
            assert sorted(received) == sorted(sent)  # nothing lost, nothing written twice by a retry

            stack.up(settings, stack.INFRA_PARTS, ["kafka"])  # `infra up` restarts the one member that is down
            assert process.read_pid(settings, victim) is not None
            _wait_until(lambda: not any(topic.under_replicated for topic in
                                        topic_replication(settings.bootstrap_servers, [AGENT_MESSAGES])),
                        timeout_s=30, what=f"{victim} back in sync")
            publisher.publish(AGENT_MESSAGES, b"after-restart", key="lead-0")
            received = [record.value for record in publisher.read([AGENT_MESSAGES], idle_timeout_s=3.0)]
            assert sorted(received) == sorted([*sent, b"after-restart"])
        finally:
            publisher.close()
    assert all(process.read_pid(settings, name) is None for name in ("kafka", "kafka-2", "kafka-3"))
