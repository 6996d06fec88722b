"""The bridge on small fakes: every bad record becomes a dead letter and the bridge goes on; offsets are
committed only after the publish is acknowledged; broker trouble is retried, other failures restart the loop
(one consumer per run, not per idle poll); /health reports liveness and answers 503 when dead or stale."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from sdr_pipeline.contracts import AGENT_MESSAGES, DEAD_LETTERS, INCOMING_LEADS, DeadLetter, Envelope, Lead
from sdr_pipeline.contracts.raw import RecordBounds
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.infra.bus import Record
from sdr_pipeline.intake import Bridge, BridgeMonitor, LeadStore, bridge_record, create_app
from sdr_pipeline.settings import Settings

FAST = Settings(intake_bridge_poll_s=0.01, intake_bridge_backoff_initial_s=0.01, intake_bridge_backoff_max_s=0.02,
                intake_bridge_publish_retry_s=0.15, intake_bridge_stale_s=5.0)


def good(lead_id: str = "lead-1", *, hop: int = 0) -> bytes:
    return Envelope(lead_id=lead_id, hop=hop, produced_by="web_form",
                    lead=Lead(name="Jo", email="jo@example.com")).to_bytes()


def nested(depth: int) -> bytes:
    """An envelope whose context nests `depth` objects."""
    context = "[" * depth + "]" * depth
    return (b'{"lead_id": "deep", "produced_by": "web_form", "context": {"x": ' + context.encode() + b"}}")


def record(value: bytes | None, offset: int = 0, *, key: str | None = "lead-1") -> Record:
    return Record(INCOMING_LEADS, key, value, 0, offset)  # type: ignore[arg-type]  # None is a tombstone


# --- one record -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        (None, "tombstone"),
        (b"{oops", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (nested(5_000), "nested deeper than 32"),
        (nested(100), "nested deeper than 32"),
        (b'{"lead_id": "x", "produced_by": "web_form", "pad": "' + b"a" * 300_000 + b'"}', "over the limit of 262,144 bytes"),
        (b'{"produced_by": "web_form"}', "lead_id"),
        (b'[1, 2]', "JSON object"),
    ],
    ids=["tombstone", "not_json", "not_utf8", "deep_5000", "deep_100", "oversize", "no_lead_id", "not_object"],
)
def test_bad_records_become_dead_letters_with_the_reason(value, phrase) -> None:
    letter = bridge_record(record(value, 7), RecordBounds())
    assert isinstance(letter, DeadLetter)
    assert phrase in letter.reason and letter.stage == "validation" and letter.error_type == "ContractError"
    assert letter.lead_id in ("lead-1", "x", "deep")  # the record's key when the value names no lead
    assert len(letter.model_dump_json().encode()) <= RecordBounds().dead_letter_bytes  # always fits Kafka's 1 MiB


def test_an_unforeseen_error_is_a_dead_letter_too(monkeypatch) -> None:
    import sdr_pipeline.intake.bridge as bridge_module

    def explode(data):
        raise ValueError("surprise")

    monkeypatch.setattr(bridge_module, "parse_envelope", explode)
    letter = bridge_record(record(good()), RecordBounds())
    assert isinstance(letter, DeadLetter) and letter.error_type == "ValueError" and "surprise" in letter.reason


def test_a_valid_record_is_bridged_as_hop_zero_with_its_message_id() -> None:
    raw = good(hop=3)
    envelope = bridge_record(record(raw), RecordBounds())
    assert isinstance(envelope, Envelope)
    assert envelope.hop == 0 and envelope.message_id == json.loads(raw)["message_id"]


# --- fakes ------------------------------------------------------------------------------------

class Group:
    """A partition and its committed offset, shared by every consumer the bridge connects."""

    def __init__(self, values: list[bytes | None]) -> None:
        self.records = [record(value, offset) for offset, value in enumerate(values)]
        self.committed = 0
        self.connects = 0
        self.closes = 0
        self.events: list[str] = []
        self.poll_error: BaseException | None = None
        self.broker_down = False

    def connect(self) -> FakeConsumer:
        self.connects += 1
        return FakeConsumer(self)


class FakeConsumer:
    def __init__(self, group: Group) -> None:
        self.group = group
        self.position = group.committed  # a new member resumes from the committed offset

    def poll(self, *, timeout_s: float, max_records: int) -> list[Record]:
        if self.group.poll_error is not None:
            error, self.group.poll_error = self.group.poll_error, None
            raise error
        batch = self.group.records[self.position:self.position + max_records]
        self.position += len(batch)
        if not batch:
            time.sleep(timeout_s)
        return batch

    def commit(self, rec: Record) -> None:
        self.group.events.append(f"commit {rec.offset}")
        self.group.committed = rec.offset + 1

    def lag(self) -> int | None:
        if self.group.broker_down:
            raise InfraError("kafka", "could not measure the lag (KafkaTimeoutError)")
        return len(self.group.records) - self.position

    def close(self) -> None:
        self.group.closes += 1


class FakePublisher:
    """Acknowledges each publish, or raises the queued failures first."""

    def __init__(self, group: Group, failures: int = 0) -> None:
        self.group = group
        self.failures = failures
        self.topics: dict[str, list[BaseModel]] = {AGENT_MESSAGES: [], DEAD_LETTERS: []}

    def publish(self, topic: str, message: BaseModel) -> None:
        if self.failures:
            self.failures -= 1
            self.group.events.append("publish failed")
            raise InfraError("kafka", "could not publish (NoBrokersAvailable)")
        self.topics[topic].append(message)
        self.group.events.append(f"published {topic}")


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def running() -> Iterator[Callable[[Bridge], None]]:
    """Starts bridges in their supervisor thread; stops and joins them after the test."""
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start(bridge: Bridge) -> None:
        stop = threading.Event()
        started.append((stop, bridge.start(stop)))

    yield start
    for stop, thread in started:
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive()


# --- the loop -----------------------------------------------------------------------------------

def test_poison_records_are_dead_lettered_and_the_next_lead_still_arrives(running, tmp_path: Path) -> None:
    group = Group([None, nested(5_000), b"{oops", good("lead-2")])
    publisher = FakePublisher(group)
    leads = LeadStore(tmp_path / "leads.sqlite")
    bridge = Bridge(group.connect, publisher, FAST, leads=leads)
    running(bridge)
    wait_until(lambda: group.committed == 4)
    assert [m.lead_id for m in publisher.topics[AGENT_MESSAGES]] == ["lead-2"]  # type: ignore[attr-defined]
    assert len(publisher.topics[DEAD_LETTERS]) == 3
    status = bridge.monitor.status()
    assert (status.forwarded, status.dead_lettered, status.restarts, status.healthy) == (1, 3, 0, True)
    assert leads.get("lead-2") is not None
    leads.close()


def test_offsets_are_committed_only_after_the_publish_is_acknowledged(running) -> None:
    group = Group([good("a"), good("b")])
    publisher = FakePublisher(group, failures=2)
    bridge = Bridge(group.connect, publisher, FAST)
    running(bridge)
    wait_until(lambda: group.committed == 2)
    assert group.events == ["publish failed", "publish failed", f"published {AGENT_MESSAGES}", "commit 0",
                            f"published {AGENT_MESSAGES}", "commit 1"]
    status = bridge.monitor.status()
    assert status.restarts == 0 and group.connects == 1  # a retried publish keeps the consumer
    assert "NoBrokersAvailable" in (status.last_error or "")


def test_a_publish_that_keeps_failing_restarts_the_loop_and_the_record_is_read_again(running) -> None:
    group = Group([good("a")])
    publisher = FakePublisher(group, failures=10_000)
    bridge = Bridge(group.connect, publisher, FAST)
    running(bridge)
    wait_until(lambda: bridge.monitor.status().restarts >= 1)
    assert group.committed == 0 and "commit 0" not in group.events  # nothing skipped while the broker is away
    publisher.failures = 0  # the broker is back
    wait_until(lambda: group.committed == 1)
    assert [m.lead_id for m in publisher.topics[AGENT_MESSAGES]] == ["a"]  # type: ignore[attr-defined]
    assert group.connects >= 2 and group.closes >= 1


def test_any_error_restarts_the_loop_instead_of_killing_the_bridge(running) -> None:
    group = Group([good("a")])
    group.poll_error = RuntimeError("connection reset by peer")
    bridge = Bridge(group.connect, FakePublisher(group), FAST)
    running(bridge)
    wait_until(lambda: group.committed == 1)
    status = bridge.monitor.status()
    assert status.restarts == 1 and status.alive and "connection reset" in (status.last_error or "")


def test_idle_polls_keep_one_consumer(running) -> None:
    group = Group([])
    bridge = Bridge(group.connect, FakePublisher(group), FAST)
    running(bridge)
    time.sleep(0.3)  # some thirty idle polls
    assert group.connects == 1 and bridge.monitor.status().lag == 0


def test_a_silent_broker_turns_health_red_without_restarting_the_loop(running, monkeypatch) -> None:
    import sdr_pipeline.intake.bridge as bridge_module

    monkeypatch.setattr(bridge_module, "_LAG_EVERY_S", 0.01)
    group = Group([])
    group.broker_down = True
    bridge = Bridge(group.connect, FakePublisher(group), FAST.model_copy(update={"intake_bridge_stale_s": 0.2}))
    running(bridge)
    wait_until(lambda: not bridge.monitor.status().healthy)
    status = bridge.monitor.status()
    assert "broker has not answered" in (status.problem or "") and status.heartbeat_age_s < 0.2
    assert status.restarts == 0 and group.connects == 1
    group.broker_down = False
    wait_until(lambda: bridge.monitor.status().healthy)


def test_stop_ends_the_bridge_and_leaves_the_group() -> None:
    group = Group([])
    bridge = Bridge(group.connect, FakePublisher(group), FAST)
    stop = threading.Event()
    thread = bridge.start(stop)
    wait_until(lambda: group.connects == 1)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and group.closes == 1
    assert not bridge.monitor.status().alive and not bridge.monitor.status().healthy


# --- liveness and /health ------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_monitor_is_stale_once_the_heartbeat_is_old() -> None:
    clock = Clock()
    monitor = BridgeMonitor(stale_after_s=30, clock=clock)
    monitor.running(True)
    clock.now += 29
    assert monitor.status().healthy
    monitor.failed(InfraError("kafka", "could not publish"), restart=False)
    clock.now += 2
    status = monitor.status()
    assert not status.healthy and "no bridge heartbeat for 31 s" in (status.problem or "")
    assert "could not publish" in (status.problem or "")
    monitor.beat()  # polls go on, but the broker stays silent
    status = monitor.status()
    assert not status.healthy and "the broker has not answered the bridge for 31 s" in (status.problem or "")
    monitor.measured(0)
    assert monitor.status().healthy


@pytest.mark.anyio
@pytest.mark.parametrize(("state", "code"), [("healthy", 200), ("stale", 503), ("dead", 503)])
async def test_health_reports_the_bridge(tmp_path: Path, state: str, code: int) -> None:
    clock = Clock()
    monitor = BridgeMonitor(stale_after_s=30, clock=clock)
    monitor.running(state != "dead")
    monitor.measured(4)
    if state == "stale":
        clock.now += 60
    app = create_app(Settings(state_dir=tmp_path), publisher=FakePublisher(Group([])), bridge=monitor)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake.test") as client:
        response = await client.get("/health")
    assert response.status_code == code
    body = response.json()
    assert body["status"] == ("ok" if code == 200 else "unhealthy")
    assert body["bridge"]["lag"] == 4 and body["bridge"]["alive"] == (state != "dead")


@pytest.mark.anyio
async def test_health_without_a_bridge_is_ok(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path), publisher=FakePublisher(Group([])))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake.test") as client:
        response = await client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok", "bridge": None}
