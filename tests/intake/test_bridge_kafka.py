"""The supervised bridge against the real broker: a tombstone and a record nested 5,000 deep become dead
letters with their reasons, the good lead behind them still arrives on agent_messages, and every offset is
committed (a new member of the group finds nothing left to read).

The bridge reads a topic of its own here, so it does not re-bridge what other tests wrote on incoming_leads;
what it writes goes to the real agent_messages and dead_letters."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import pytest

from sdr_pipeline.contracts import AGENT_MESSAGES, DEAD_LETTERS, DeadLetter, Envelope, Lead, parse_envelope
from sdr_pipeline.contracts.topics import TopicSpec
from sdr_pipeline.infra.bus import GroupConsumer, KafkaBus, Record, ensure_topics
from sdr_pipeline.intake import Bridge
from sdr_pipeline.settings import Settings

pytestmark = pytest.mark.kafka


def records_keyed(bus: KafkaBus, topic: str, key: str, *, count: int, timeout_s: float = 30.0) -> list[Record]:
    """The records with `key` on `topic`, read again until `count` are there (a first read on a loaded machine
    can end before the consumer has even fetched)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [record for record in bus.read([topic], idle_timeout_s=3.0) if record.key == key]
        if len(found) >= count or time.monotonic() > deadline:
            return found


def test_poison_on_incoming_leads_is_dead_lettered_and_the_next_lead_arrives(kafka: Settings) -> None:
    run = uuid.uuid4().hex[:8]
    source, group = f"incoming_leads_test_{run}", f"bridge-test-{run}"
    ensure_topics(kafka.bootstrap_servers, [TopicSpec(source, 1)])
    settings = kafka.model_copy(update={"intake_bridge_poll_s": 0.2})
    bus = KafkaBus(kafka.bootstrap_servers, client_id=f"bridge-test-{run}")
    poison_key = f"poison-{run}"
    good = Envelope(lead_id=f"lead-{run}", produced_by="web_form", lead=Lead(name="Kai", email="kai@example.com"))
    bus.publish(source, None, key=poison_key)  # type: ignore[arg-type]  # a tombstone
    bus.publish(source, b'{"lead_id": "x", "context": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", key=poison_key)
    bus.publish(source, good)

    connect = lambda: GroupConsumer(kafka.bootstrap_servers, [source], group=group,  # noqa: E731
                                    client_id=f"bridge-test-{run}")
    bridge = Bridge(connect, bus, settings)
    stop = threading.Event()
    thread = bridge.start(stop)
    try:
        deadline = time.monotonic() + 40
        while (bridge.monitor.status().forwarded, bridge.monitor.status().dead_lettered) != (1, 2):
            assert time.monotonic() < deadline, f"bridge did not finish: {bridge.monitor.status()}"
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive() and bridge.monitor.status().restarts == 0

    bridged = [parse_envelope(r.value) for r in records_keyed(bus, AGENT_MESSAGES, good.lead_id, count=1)]
    assert [(e.message_id, e.hop) for e in bridged] == [(good.message_id, 0)]
    letters = [DeadLetter.model_validate_json(r.value) for r in records_keyed(bus, DEAD_LETTERS, poison_key, count=2)]
    assert ["tombstone" in letters[0].reason, "nested deeper" in letters[1].reason] == [True, True]
    assert all(letter.stage == "validation" for letter in letters)

    with contextlib.closing(connect()) as successor:  # everything was committed: nothing is read twice
        read_again, deadline = [], time.monotonic() + 20
        while successor.lag() is None:  # not assigned its partition yet
            assert time.monotonic() < deadline, "the successor was never assigned the partition"
            read_again += successor.poll(timeout_s=0.5, max_records=10)
        assert successor.lag() == 0 and read_again + successor.poll(timeout_s=0.5, max_records=10) == []
    bus.close()
