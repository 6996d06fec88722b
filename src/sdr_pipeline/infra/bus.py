"""The message bus: the only module that imports kafka-python.

`KafkaBus` talks to a real broker; `InMemoryBus` has the same interface for unit tests.
Messages are pydantic models written as JSON; the key is the model's `lead_id` unless
given, so every message of one lead lands on one partition, in order.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from sdr_pipeline.contracts.topics import TopicSpec
from sdr_pipeline.exceptions import InfraError

__all__ = ["Bus", "GroupConsumer", "InMemoryBus", "KafkaBus", "PartitionReplicas", "Publisher", "Record", "TopicReplication",
           "broker_ready", "ensure_topics", "producer_config", "topic_replication"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One consumed message, as raw bytes: parsing is the consumer's business."""

    topic: str
    key: str | None
    value: bytes
    partition: int = 0
    offset: int = 0
    timestamp_ms: int = 0


class Publisher(Protocol):
    """What a producer of ours needs (agents, the intake bridge): `KafkaBus`, `InMemoryBus`, or a fake."""

    def publish(self, topic: str, message: BaseModel | bytes, *, key: str | None = None) -> None: ...


class Bus(Publisher, Protocol):
    """What intake, agents, the CLI and tests need from a message bus: publish, and read back."""

    def read(self, topics: Iterable[str], *, idle_timeout_s: float = 2.0, max_records: int | None = None) -> list[Record]: ...


def _encode(message: BaseModel | bytes, key: str | None) -> tuple[bytes | None, bytes]:
    if isinstance(message, BaseModel):
        value = message.model_dump_json().encode("utf-8")
        key = key if key is not None else getattr(message, "lead_id", None)
    else:
        value = message
    return (key.encode("utf-8") if key is not None else None), value


class InMemoryBus:
    """A bus in a dict, for unit tests; keeps every record in publish order per topic."""

    def __init__(self) -> None:
        self.topics: dict[str, list[Record]] = defaultdict(list)

    def publish(self, topic: str, message: BaseModel | bytes, *, key: str | None = None) -> None:
        raw_key, value = _encode(message, key)
        records = self.topics[topic]
        records.append(Record(topic, raw_key.decode() if raw_key else None, value, 0, len(records), int(time.time() * 1000)))

    def read(self, topics: Iterable[str], *, idle_timeout_s: float = 2.0, max_records: int | None = None) -> list[Record]:
        records = [record for topic in topics for record in self.topics.get(topic, [])]
        return records[:max_records] if max_records is not None else records


def producer_config(bootstrap_servers: str, *, client_id: str, send_timeout_s: float) -> dict[str, object]:
    """The one producer configuration of ours: idempotent, acks=all, retried within `send_timeout_s`.

    acks=all waits for every in-sync replica (at least min.insync.replicas of them), so an acknowledged
    record survives the loss of a broker; idempotence lets the producer retry a send the broker may
    already have written (a leader lost mid-request) without writing it twice or out of order. Retries are
    unbounded in number but end with the delivery timeout, which equals `send_timeout_s`, so a send that
    `publish` reports as failed is not still being retried behind the caller's back."""
    timeout_ms = int(send_timeout_s * 1000)
    return {
        "bootstrap_servers": bootstrap_servers, "client_id": client_id,
        "enable_idempotence": True, "acks": "all", "linger_ms": 0,
        "delivery_timeout_ms": timeout_ms, "request_timeout_ms": timeout_ms, "max_block_ms": timeout_ms,
        "reconnect_backoff_max_ms": 2000,  # back within seconds of a broker restart, not kafka-python's 30 s
    }


class KafkaBus:
    """A real Kafka producer, plus bounded reads for tools and tests.

    Reads see committed records only (`read_committed`): the routing job writes its topics in
    transactions, and a record of a transaction a crash aborted is never read.

    A publish waits up to `send_timeout_s` (30 s) for its acknowledgement: long enough to ride out the
    loss of one broker of three, which stalls writes for about 10 s until the cluster fences it and moves
    its leaders (measured in tests/infra/test_kafka_cluster.py)."""

    def __init__(self, bootstrap_servers: str, *, client_id: str = "sdr-pipeline", send_timeout_s: float = 30.0) -> None:
        from kafka import KafkaProducer

        self.bootstrap_servers = bootstrap_servers
        self.send_timeout_s = send_timeout_s
        self._client_id = client_id
        self._producer = KafkaProducer(**producer_config(bootstrap_servers, client_id=client_id,
                                                         send_timeout_s=send_timeout_s))

    def publish(self, topic: str, message: BaseModel | bytes, *, key: str | None = None) -> None:
        """Send and wait for the broker's acknowledgement: a returned call means the message is stored."""
        from kafka.errors import KafkaError

        raw_key, value = _encode(message, key)
        try:  # the producer's delivery timeout ends the wait; the margin only guards against a lost callback
            self._producer.send(topic, key=raw_key, value=value).get(timeout=self.send_timeout_s + 5.0)
        except KafkaError as error:
            raise InfraError("kafka", f"could not publish to {topic} ({error})",
                             fix=f"check the broker at {self.bootstrap_servers}: `sdr-pipeline infra status`") from None
        logger.debug("published to %s key=%s", topic, raw_key)

    def read(self, topics: Iterable[str], *, idle_timeout_s: float = 2.0, max_records: int | None = None) -> list[Record]:
        """Everything on `topics` from the beginning, stopping once no record came for `idle_timeout_s`."""
        return list(self.follow(topics, idle_timeout_s=idle_timeout_s, max_records=max_records))

    def follow(self, topics: Iterable[str], *, group: str | None = None, from_beginning: bool = True,
               idle_timeout_s: float | None = None, max_records: int | None = None) -> Iterator[Record]:
        """Yield records as they arrive; ends after `idle_timeout_s` without one (None: never)."""
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            *topics, bootstrap_servers=self.bootstrap_servers, client_id=f"{self._client_id}-reader",
            group_id=group, enable_auto_commit=group is not None,
            auto_offset_reset="earliest" if from_beginning else "latest", isolation_level="read_committed",
            consumer_timeout_ms=int(idle_timeout_s * 1000) if idle_timeout_s is not None else float("inf"),
        )
        count = 0
        try:
            for message in consumer:
                yield Record(message.topic, message.key.decode() if message.key else None, message.value,
                             message.partition, message.offset, message.timestamp)
                count += 1
                if max_records is not None and count >= max_records:
                    return
        finally:
            consumer.close()

    def close(self) -> None:
        self._producer.flush(timeout=self.send_timeout_s)
        self._producer.close(timeout=self.send_timeout_s)


class GroupConsumer:
    """One long-lived consumer in a group that commits only what its caller has finished with.

    For loops that must not lose a record (the intake bridge): auto-commit is off and closing
    commits nothing, so an offset moves only after `commit(record)`, i.e. after the caller's own
    publish was acknowledged; a crash before that redelivers the record. A tombstone arrives as a
    `Record` whose value is None. Every Kafka failure surfaces as `InfraError`.
    """

    def __init__(self, bootstrap_servers: str, topics: Iterable[str], *, group: str, client_id: str,
                 request_timeout_s: float = 10.0, session_timeout_s: float = 10.0) -> None:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        self.bootstrap_servers = bootstrap_servers
        self.group = group
        self._timeout_ms = int(request_timeout_s * 1000)
        try:
            self._consumer = KafkaConsumer(
                *topics, bootstrap_servers=bootstrap_servers, client_id=client_id, group_id=group,
                enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
                request_timeout_ms=self._timeout_ms,
                session_timeout_ms=int(session_timeout_s * 1000),
                heartbeat_interval_ms=int(session_timeout_s * 1000 / 3),  # a third of the session, as Kafka advises
                reconnect_backoff_max_ms=2000,  # back within seconds of a broker restart, not kafka-python's 30 s
            )
        except KafkaError as error:
            raise self._error(f"could not join consumer group {group}", error) from None

    def _error(self, problem: str, error: BaseException) -> InfraError:
        return InfraError("kafka", f"{problem} ({type(error).__name__}: {error})",
                          fix=f"check the broker at {self.bootstrap_servers}: `sdr-pipeline infra status`")

    def poll(self, *, timeout_s: float, max_records: int) -> list[Record]:
        """The next records (possibly none after `timeout_s`), in offset order per partition."""
        from kafka.errors import KafkaError

        try:
            batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except KafkaError as error:
            raise self._error(f"could not poll as group {self.group}", error) from None
        return [Record(message.topic, message.key.decode("utf-8", errors="replace") if message.key else None,
                       message.value, message.partition, message.offset, message.timestamp)
                for messages in batches.values() for message in messages]

    def commit(self, record: Record) -> None:
        """Mark `record` done: the group resumes after it."""
        from kafka import OffsetAndMetadata, TopicPartition
        from kafka.errors import KafkaError

        offsets = {TopicPartition(record.topic, record.partition): OffsetAndMetadata(record.offset + 1, "", -1)}
        try:
            self._consumer.commit(offsets, timeout_ms=self._timeout_ms)
        except KafkaError as error:
            raise self._error(f"could not commit {record.topic}[{record.partition}]@{record.offset} "
                              f"for group {self.group}", error) from None

    def lag(self, *, timeout_s: float = 2.0) -> int | None:
        """Records on the assigned partitions not yet consumed; None before partitions are assigned.

        One round trip to the broker, so it also tells whether the broker answers (InfraError if not)."""
        from kafka.errors import KafkaError

        partitions = list(self._consumer.assignment())
        if not partitions:
            return None
        timeout_ms = int(timeout_s * 1000)
        try:
            ends = self._consumer.end_offsets(partitions, timeout_ms=timeout_ms)
            return sum(max(0, ends[tp] - (self._consumer.position(tp, timeout_ms=timeout_ms) or 0))
                       for tp in partitions)
        except KafkaError as error:
            raise self._error(f"could not measure the lag of group {self.group}", error) from None

    def close(self) -> None:
        """Leave the group at once (the next member takes over without waiting); commits nothing."""
        self._consumer.close(autocommit=False, timeout_ms=self._timeout_ms)


@dataclass(frozen=True)
class PartitionReplicas:
    """Where one partition's copies are."""

    partition: int
    leader: int
    """Node id of the leader; -1 while none is elected."""
    replicas: tuple[int, ...]
    in_sync: tuple[int, ...]
    """Replicas caught up with the leader: an acks=all write waits for these."""


@dataclass(frozen=True)
class TopicReplication:
    """How one topic is replicated, as the cluster reports it."""

    name: str
    min_insync_replicas: int
    partitions: tuple[PartitionReplicas, ...]

    @property
    def under_replicated(self) -> bool:
        return any(len(partition.in_sync) < len(partition.replicas) for partition in self.partitions)


def topic_replication(bootstrap_servers: str, names: Iterable[str], *,
                      timeout_s: float = 10.0) -> list[TopicReplication]:
    """Replicas, in-sync replicas and min.insync.replicas of each named topic (those that exist)."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource
    from kafka.errors import KafkaError

    names = list(names)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000),
                                 client_id="sdr-topics")
    except KafkaError as error:
        raise InfraError("kafka", f"could not reach the cluster ({type(error).__name__})",
                         fix=f"check the cluster at {bootstrap_servers}: `sdr-pipeline infra status`") from None
    try:
        topics = [topic for topic in admin.describe_topics(names) if topic["error_code"] == 0]
        configs = admin.describe_configs([ConfigResource("TOPIC", topic["name"], ["min.insync.replicas"])
                                          for topic in topics], config_filter="all") if topics else {}
    except KafkaError as error:
        raise InfraError("kafka", f"could not describe topics ({type(error).__name__}: {error})",
                         fix=f"check the cluster at {bootstrap_servers}: `sdr-pipeline infra status`") from None
    finally:
        admin.close()
    return [TopicReplication(
        topic["name"], int(configs["topic"][topic["name"]]["min.insync.replicas"]["value"]),
        tuple(PartitionReplicas(part["partition_index"], part["leader_id"], tuple(part["replica_nodes"]),
                                tuple(part["isr_nodes"]))
              for part in sorted(topic["partitions"], key=lambda part: part["partition_index"])),
    ) for topic in topics]


def broker_ready(bootstrap_servers: str, *, timeout_s: float = 2.0) -> bool:
    """True once the broker answers a metadata request; never raises."""
    import socket

    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    host, _, port = bootstrap_servers.split(",")[0].rpartition(":")
    try:  # a closed port answers at once, whereas the admin client would retry until its timeout
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError):
        return False
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000),
                                 client_id="sdr-health")
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec], *, replication_factor: int = 1,
                  min_insync_replicas: int = 1, timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet, each with `replication_factor` replicas; returns the names created.

    `min_insync_replicas` becomes each new topic's min.insync.replicas unless its spec sets one (settings
    choose both from the broker count). Returns once every new partition has a leader, so a caller may
    publish at once. A topic the cluster refuses (too few brokers for the replicas) raises InfraError."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError, TopicAlreadyExistsError, for_code

    fix = f"check the cluster at {bootstrap_servers}: `sdr-pipeline infra status`"
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000),
                                 client_id="sdr-topics")
    except KafkaError as error:
        raise InfraError("kafka", f"could not reach the cluster to create topics ({type(error).__name__})",
                         fix=fix) from None
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            return []
        configs = {spec.name: {**({"min.insync.replicas": str(min_insync_replicas)} if replication_factor > 1 else {}),
                               **spec.config} for spec in missing}
        result = admin.create_topics(
            {spec.name: {"num_partitions": spec.partitions, "replication_factor": replication_factor,
                         "configs": configs[spec.name]} for spec in missing},
            timeout_ms=int(timeout_s * 1000), raise_errors=False,
        )
        refused = {topic["name"]: for_code(topic["error_code"]) for topic in result["topics"]
                   if topic["error_code"] != 0 and for_code(topic["error_code"]) is not TopicAlreadyExistsError}
        if refused:
            reasons = ", ".join(f"{name}: {error.__name__}" for name, error in refused.items())
            raise InfraError("kafka", f"the cluster refused to create topics with {replication_factor} replicas "
                                      f"({reasons})",
                             fix="set SDR_KAFKA_BROKERS to the number of brokers the cluster has (1 or 3) and start "
                                 f"them all; {fix}")
        admin.wait_for_topics([spec.name for spec in missing], timeout_ms=int(timeout_s * 1000))
        for spec in missing:
            logger.info("created topic %s (%d partitions, %d replicas, %s)", spec.name, spec.partitions,
                        replication_factor, configs[spec.name])
        return [spec.name for spec in missing]
    except KafkaError as error:
        raise InfraError("kafka", f"could not create topics ({type(error).__name__}: {error})", fix=fix) from None
    finally:
        admin.close()
