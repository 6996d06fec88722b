"""The bridge: every envelope on incoming_leads goes onto agent_messages, unchanged, as hop 0.

incoming_leads stays the replayable record of everything that came in (web form, CRM
import, e-mail replies); agent_messages is where the routing job listens. The message id
is kept, so a record bridged twice (at-least-once after a crash) is a duplicate that
downstream idempotency drops.

Nothing may stop it for good:
- a record that is not a valid envelope (tombstone, not JSON, too large, nested too deep,
  failing the contract) becomes a dead letter with the reason, and the bridge goes on;
- an offset is committed only after what the record became was acknowledged by the broker,
  so a crash or a broker restart redelivers, never skips;
- a failing publish is retried with backoff; past `intake_bridge_publish_retry_s`, or on any
  other error, the loop ends and its supervisor starts it again, with backoff, until stopped;
- `BridgeMonitor` holds the loop's heartbeat, when the broker last answered, restarts and lag for
  the intake's `/health`, which answers 503 when the thread is gone or either of those is stale.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

import tenacity
from pydantic import BaseModel, ConfigDict

from sdr_pipeline.contracts import AGENT_MESSAGES, DEAD_LETTERS, INCOMING_LEADS, DeadLetter, Envelope, parse_envelope
from sdr_pipeline.contracts.raw import RecordBounds, check_raw, fit_dead_letter
from sdr_pipeline.exceptions import ContractError, InfraError, SdrPipelineError
from sdr_pipeline.infra.bus import Publisher, Record
from sdr_pipeline.intake.leads import LeadStore
from sdr_pipeline.settings import Settings

__all__ = [
    "BRIDGE_GROUP",
    "Bridge",
    "BridgeCount",
    "BridgeMonitor",
    "BridgeStatus",
    "Consumer",
    "bridge_record",
    "forward",
]

logger = logging.getLogger(__name__)

BRIDGE_GROUP = "intake-bridge"
_LAG_EVERY_S = 5.0
"""How often the loop asks the broker for its lag (one request; cheap, but not every poll)."""


class Consumer(Protocol):
    """What the bridge needs from a consumer group member (`infra.bus.GroupConsumer`, or a fake)."""

    def poll(self, *, timeout_s: float, max_records: int) -> list[Record]: ...

    def commit(self, record: Record) -> None: ...

    def lag(self) -> int | None:
        """Records not consumed yet (None before an assignment); raises InfraError when the broker does not answer."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class BridgeCount:
    forwarded: int
    dead_lettered: int


# --- one record ---------------------------------------------------------------------------

def _where(record: Record) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"


def _dead_letter(record: Record, error: BaseException, bounds: RecordBounds) -> DeadLetter:
    """The dead letter for `record`, cut to fit, keyed by the record's key if it names no lead."""
    text = (record.value or b"").decode("utf-8", errors="replace")
    letter = DeadLetter.from_error(text, error, stage="validation")
    letter = letter.model_copy(update={"lead_id": record.key}) if record.key and not letter.lead_id else letter
    return fit_dead_letter(letter, bounds.dead_letter_bytes)


def _parse(record: Record, bounds: RecordBounds) -> Envelope:
    """The record's envelope, or a ContractError saying why there is none (null, size, depth, JSON, contract)."""
    text = check_raw(record.value, bounds, where=_where(record), contract="envelope",
                     null_hint="incoming_leads carries envelopes and a null deletes nothing; producers must write a "
                               "JSON envelope")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ContractError("envelope", f"not valid JSON at {_where(record)} ({error})") from None
    return parse_envelope(data)


def bridge_record(record: Record, bounds: RecordBounds) -> Envelope | DeadLetter:
    """What one incoming_leads record becomes: the envelope as hop 0, or a dead letter with the reason.

    Never raises: this is the bridge's dead-letter boundary, so even an unforeseen error in parsing
    becomes a dead letter naming the error type instead of stopping the bridge.
    """
    try:
        envelope = _parse(record, bounds)
    except ContractError as error:
        return _dead_letter(record, error, bounds)
    except Exception as error:  # noqa: BLE001 - the dead-letter boundary: recorded with its type, never lost
        logger.exception("unexpected error parsing %s", _where(record))
        return _dead_letter(record, error, bounds)
    return envelope.model_copy(update={"hop": 0}) if envelope.hop != 0 else envelope


def forward(records: Iterable[Record], publisher: Publisher, settings: Settings, *,
            leads: LeadStore | None = None) -> BridgeCount:
    """Forward each record to agent_messages as hop 0, or to dead_letters with the reason (once, no retries)."""
    forwarded = dead = 0
    bounds = RecordBounds.from_settings(settings)
    for record in records:
        outcome = _deliver(record, publisher.publish, leads=leads, bounds=bounds)
        forwarded += outcome == "forwarded"
        dead += outcome == "dead_lettered"
    return BridgeCount(forwarded, dead)


def _deliver(record: Record, publish: Callable[[str, BaseModel], None], *, leads: LeadStore | None,
             bounds: RecordBounds) -> Literal["forwarded", "dead_lettered"]:
    """Publish what `record` becomes; returns once the broker acknowledged it (raises if it did not)."""
    message = bridge_record(record, bounds)
    if isinstance(message, DeadLetter):
        publish(DEAD_LETTERS, message)
        logger.warning("incoming record %s[%d]@%d dead-lettered lead_id=%s: %s", record.topic, record.partition,
                       record.offset, message.lead_id, message.reason)
        return "dead_lettered"
    if leads is not None:
        leads.record(message.lead_id, message.lead)
    publish(AGENT_MESSAGES, message)
    logger.info("bridged message_id=%s lead_id=%s produced_by=%s", message.message_id, message.lead_id,
                message.produced_by)
    return "forwarded"


# --- liveness -------------------------------------------------------------------------------

class BridgeStatus(BaseModel):
    """The bridge as intake's /health reports it."""

    model_config = ConfigDict(frozen=True)

    healthy: bool
    """False when the supervisor thread is gone, the loop missed its heartbeat or the broker stopped answering:
    /health answers 503."""
    problem: str | None
    """Why it is not healthy, with what to do."""
    alive: bool
    """The supervisor thread is running."""
    heartbeat_age_s: float
    """Seconds since the loop last polled or delivered a record (since start, before the first one)."""
    broker_seen_age_s: float
    """Seconds since the broker last answered the bridge (a lag query, a publish and commit)."""
    stale_after_s: float
    """Heartbeat or broker age at which the bridge counts as stuck."""
    restarts: int
    """Times the loop failed and was started again."""
    forwarded: int
    dead_lettered: int
    lag: int | None
    """Records on incoming_leads not bridged yet; None while unknown."""
    last_error: str | None
    """The latest failure (a retried publish, a restart, a silent broker), if any."""
    last_error_age_s: float | None
    """Seconds since that failure."""


class BridgeMonitor:
    """Thread-safe counters the bridge writes and /health reads."""

    def __init__(self, *, stale_after_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._beat = self._broker_seen = clock()
        self._alive = False
        self._restarts = self._forwarded = self._dead = 0
        self._lag: int | None = None
        self._last_error: str | None = None
        self._last_error_at = 0.0

    def beat(self) -> None:
        with self._lock:
            self._beat = self._clock()

    def running(self, alive: bool) -> None:
        with self._lock:
            self._alive = alive
            self._beat = self._broker_seen = self._clock()

    def delivered(self, outcome: Literal["forwarded", "dead_lettered"]) -> None:
        with self._lock:
            self._beat = self._broker_seen = self._clock()
            if outcome == "forwarded":
                self._forwarded += 1
            else:
                self._dead += 1

    def failed(self, error: BaseException, *, restart: bool) -> None:
        with self._lock:
            self._last_error = f"{type(error).__name__}: {error}"
            self._last_error_at = self._clock()
            self._restarts += restart

    def measured(self, lag: int | None) -> None:
        with self._lock:
            self._lag = lag
            if lag is not None:
                self._broker_seen = self._clock()

    def status(self) -> BridgeStatus:
        with self._lock:
            now = self._clock()
            age, broker_age = max(0.0, now - self._beat), max(0.0, now - self._broker_seen)
            fix = f"last error: {self._last_error or 'none'} — check the broker with `sdr-pipeline infra status`"
            if not self._alive:
                problem = "the bridge thread is not running: restart the intake service"
            elif age > self.stale_after_s:
                problem = f"no bridge heartbeat for {age:.0f} s (stale after {self.stale_after_s:g} s); {fix}"
            elif broker_age > self.stale_after_s:
                problem = f"the broker has not answered the bridge for {broker_age:.0f} s; {fix}"
            else:
                problem = None
            return BridgeStatus(healthy=problem is None, problem=problem, alive=self._alive,
                                heartbeat_age_s=round(age, 3), broker_seen_age_s=round(broker_age, 3),
                                stale_after_s=self.stale_after_s,
                                restarts=self._restarts, forwarded=self._forwarded, dead_lettered=self._dead,
                                lag=self._lag, last_error=self._last_error,
                                last_error_age_s=round(now - self._last_error_at, 3) if self._last_error else None)


# --- the supervised loop ---------------------------------------------------------------------

class Bridge:
    """incoming_leads -> agent_messages with one consumer per run, supervised until `stop` is set.

    `connect` makes the consumer (kept for the whole run, not rebuilt when idle); `publisher`
    must return only once the broker acknowledged a message (`KafkaBus.publish` does).
    """

    def __init__(self, connect: Callable[[], Consumer], publisher: Publisher, settings: Settings, *,
                 leads: LeadStore | None = None, monitor: BridgeMonitor | None = None) -> None:
        self._connect = connect
        self._publisher = publisher
        self._settings = settings
        self._bounds = RecordBounds.from_settings(settings)
        self._leads = leads
        self.monitor = monitor or BridgeMonitor(stale_after_s=settings.intake_bridge_stale_s)

    def _wait(self) -> tenacity.wait.wait_base:
        return tenacity.wait_exponential_jitter(initial=self._settings.intake_bridge_backoff_initial_s,
                                                max=self._settings.intake_bridge_backoff_max_s)

    def run(self, stop: threading.Event) -> None:
        """Run the loop until `stop` is set, starting it again (with backoff) whenever it fails."""
        def restarting(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if error is None:
                return
            self.monitor.failed(error, restart=True)
            logger.error("bridge loop failed (%s: %s); restart %d in %.1f s", type(error).__name__, error,
                         state.attempt_number, state.upcoming_sleep,
                         exc_info=None if isinstance(error, SdrPipelineError) else error)

        self.monitor.running(True)
        logger.info("bridge %s -> %s started", INCOMING_LEADS, AGENT_MESSAGES)
        try:
            tenacity.Retrying(retry=tenacity.retry_if_exception_type(Exception), wait=self._wait(),
                              stop=tenacity.stop_when_event_set(stop), sleep=stop.wait,
                              before_sleep=restarting)(self._run_once, stop)
        except tenacity.RetryError:
            pass  # stopped while failing: the last failure is already logged and counted
        finally:
            self.monitor.running(False)
            logger.info("bridge stopped")

    def start(self, stop: threading.Event) -> threading.Thread:
        """The supervisor in its own (daemon) thread; join it after setting `stop`."""
        self.monitor.running(True)  # alive from now, so /health does not flap before the thread runs
        thread = threading.Thread(target=self.run, args=(stop,), name="intake-bridge", daemon=True)
        thread.start()
        return thread

    def _run_once(self, stop: threading.Event) -> None:
        if stop.is_set():
            return
        consumer = self._connect()
        logger.info("bridge consumer connected; reading %s", INCOMING_LEADS)
        next_lag = 0.0
        try:
            while not stop.is_set():
                records = consumer.poll(timeout_s=self._settings.intake_bridge_poll_s, max_records=50)
                self.monitor.beat()
                for record in records:
                    if stop.is_set():
                        return  # not committed: read again by the next run
                    outcome = _deliver(record, lambda topic, message: self._publish(topic, message, stop),
                                       leads=self._leads, bounds=self._bounds)
                    consumer.commit(record)
                    self.monitor.delivered(outcome)
                if time.monotonic() >= next_lag:
                    self._measure(consumer)
                    next_lag = time.monotonic() + _LAG_EVERY_S
        finally:
            consumer.close()

    def _measure(self, consumer: Consumer) -> None:
        """Ask for the lag; a broker that does not answer is reported (health turns 503 if it lasts), not fatal:
        the consumer reconnects by itself and polls keep the loop alive."""
        try:
            self.monitor.measured(consumer.lag())
        except InfraError as error:
            self.monitor.failed(error, restart=False)
            self.monitor.measured(None)
            logger.warning("bridge: %s", error)

    def _publish(self, topic: str, message: BaseModel, stop: threading.Event) -> None:
        """Publish with retries on broker trouble; gives up (raising) after intake_bridge_publish_retry_s."""
        def retrying(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if error is not None:
                self.monitor.failed(error, restart=False)
                logger.warning("bridge publish to %s failed (attempt %d), retrying in %.1f s: %s", topic,
                               state.attempt_number, state.upcoming_sleep, error)

        tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(InfraError), wait=self._wait(), sleep=stop.wait, reraise=True,
            stop=tenacity.stop_after_delay(self._settings.intake_bridge_publish_retry_s)
            | tenacity.stop_when_event_set(stop),
            before_sleep=retrying,
        )(self._publisher.publish, topic, message)
