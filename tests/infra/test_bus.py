"""One test body per behaviour, run on the in-memory bus and (marker `kafka`) on the real broker."""

from __future__ import annotations

import uuid

import pytest

from sdr_pipeline.contracts import Envelope, Lead, parse_envelope
from sdr_pipeline.contracts.topics import TopicSpec
from sdr_pipeline.infra.bus import InMemoryBus, KafkaBus, ensure_topics


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def bus_and_topic(request):
    topic = f"test_{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        yield InMemoryBus(), topic
        return
    settings = request.getfixturevalue("kafka")
    ensure_topics(settings.bootstrap_servers, [TopicSpec(topic, 3)])
    bus = KafkaBus(settings.bootstrap_servers)
    yield bus, topic
    bus.close()


def _envelope(lead_id: str, hop: int) -> Envelope:
    return Envelope(lead_id=lead_id, hop=hop, produced_by="web_form", lead=Lead(name="Ada", email="ada@example.com"))


def test_published_envelopes_come_back_intact_and_keyed_by_lead(bus_and_topic):
    bus, topic = bus_and_topic
    sent = [_envelope(f"lead-{index % 3}", index) for index in range(9)]
    for envelope in sent:
        bus.publish(topic, envelope)
    records = bus.read([topic], idle_timeout_s=3.0)
    received = {parse_envelope(record.value).message_id: (record, parse_envelope(record.value)) for record in records}
    assert set(received) == {envelope.message_id for envelope in sent}
    for envelope in sent:
        record, back = received[envelope.message_id]
        assert back == envelope
        assert record.key == envelope.lead_id


def test_one_leads_messages_keep_their_order(bus_and_topic):
    bus, topic = bus_and_topic
    for hop in range(6):
        bus.publish(topic, _envelope("lead-ordered", hop))
    hops = [parse_envelope(record.value).hop for record in bus.read([topic], idle_timeout_s=3.0)]
    assert hops == list(range(6))


def test_raw_bytes_are_published_as_given(bus_and_topic):
    bus, topic = bus_and_topic
    bus.publish(topic, b"{not json", key="lead-x")
    [record] = bus.read([topic], idle_timeout_s=3.0)
    assert record.value == b"{not json"
    assert record.key == "lead-x"
