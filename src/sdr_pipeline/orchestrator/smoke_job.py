"""A Kafka → Flink → Kafka round trip that proves the stack end to end.

Reads every record currently on the input topic (a bounded source, so the job ends by
itself), stamps each JSON value with `"via": "flink"`, and writes it to the output
topic with the same key.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass

from sdr_pipeline.contracts.topics import TopicSpec
from sdr_pipeline.infra.bus import KafkaBus, ensure_topics
from sdr_pipeline.orchestrator.flink_env import make_env
from sdr_pipeline.settings import Settings

__all__ = ["RoundTrip", "SmokeResult", "round_trip", "run_smoke_job", "stamp"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmokeResult:
    input_topic: str
    output_topic: str
    seconds: float
    """Wall time of the Flink job, mini-cluster start included."""


def stamp(value: str) -> str:
    """The job's transformation: mark a JSON object as having passed through Flink."""
    record = json.loads(value)
    record["via"] = "flink"
    return json.dumps(record, sort_keys=True)


def run_smoke_job(settings: Settings, *, input_topic: str, output_topic: str) -> SmokeResult:
    from pyflink.common import Types, WatermarkStrategy
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream.connectors.base import DeliveryGuarantee
    from pyflink.datastream.connectors.kafka import (
        KafkaOffsetsInitializer,
        KafkaRecordSerializationSchema,
        KafkaSink,
        KafkaSource,
    )

    env = make_env(settings, parallelism=1)
    source = (
        KafkaSource.builder()
        .set_bootstrap_servers(settings.bootstrap_servers)
        .set_topics(input_topic)
        .set_group_id(f"smoke-{uuid.uuid4().hex[:8]}")
        .set_starting_offsets(KafkaOffsetsInitializer.earliest())
        .set_bounded(KafkaOffsetsInitializer.latest())
        .set_value_only_deserializer(SimpleStringSchema())
        .build()
    )
    sink = (
        KafkaSink.builder()
        .set_bootstrap_servers(settings.bootstrap_servers)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(output_topic)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build()
    )
    stream = env.from_source(source, WatermarkStrategy.no_watermarks(), "kafka-in")
    stream.map(stamp, output_type=Types.STRING()).sink_to(sink)
    started = time.monotonic()
    env.execute("sdr-pipeline smoke round trip")
    seconds = time.monotonic() - started
    logger.info("smoke job %s -> %s finished in %.1f s", input_topic, output_topic, seconds)
    return SmokeResult(input_topic, output_topic, seconds)


@dataclass(frozen=True)
class RoundTrip:
    """What `round_trip` sent, what came back, and how long each leg took."""

    sent: list[str]
    received: list[str]
    produce_seconds: float
    job: SmokeResult

    @property
    def missing(self) -> list[str]:
        expected = {stamp(value) for value in self.sent}
        return sorted(expected - set(self.received))

    @property
    def ok(self) -> bool:
        return not self.missing and len(self.received) == len(self.sent)


def round_trip(settings: Settings, *, records: int = 5) -> RoundTrip:
    """Produce `records` JSON messages, run the smoke job over them, read its output back."""
    run = uuid.uuid4().hex[:8]
    input_topic, output_topic = f"smoke_in_{run}", f"smoke_out_{run}"
    ensure_topics(settings.bootstrap_servers, [TopicSpec(input_topic, 1), TopicSpec(output_topic, 1)])
    bus = KafkaBus(settings.bootstrap_servers, client_id="sdr-smoke")
    sent = [json.dumps({"lead_id": f"smoke-{run}-{index}", "n": index}, sort_keys=True) for index in range(records)]
    started = time.monotonic()
    try:
        for value in sent:
            bus.publish(input_topic, value.encode(), key=json.loads(value)["lead_id"])
        produce_seconds = time.monotonic() - started
        job = run_smoke_job(settings, input_topic=input_topic, output_topic=output_topic)
        received = [record.value.decode() for record in bus.read([output_topic], idle_timeout_s=3.0)]
    finally:
        bus.close()
    return RoundTrip(sent, received, produce_seconds, job)
