"""The bridge: every envelope on incoming_leads goes onto agent_messages, unchanged, as hop 0.

incoming_leads stays the replayable record of everything that came in (web form, CRM
import, e-mail replies); agent_messages is where the routing job listens. The message id
is kept, so a record bridged twice (at-least-once after a crash) is a duplicate that
downstream idempotency drops. A value that is not a valid envelope goes to dead_letters
with the reason instead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from sdr_pipeline.contracts import AGENT_MESSAGES, DEAD_LETTERS, INCOMING_LEADS, DeadLetter, parse_envelope
from sdr_pipeline.exceptions import ContractError
from sdr_pipeline.infra.bus import KafkaBus, Record
from sdr_pipeline.intake.leads import LeadStore

__all__ = ["BridgeCount", "Publisher", "forward", "run_bridge"]

logger = logging.getLogger(__name__)

BRIDGE_GROUP = "intake-bridge"


class Publisher(Protocol):
    def publish(self, topic: str, message: BaseModel) -> None: ...


@dataclass(frozen=True)
class BridgeCount:
    forwarded: int
    dead_lettered: int


def forward(records: Iterable[Record], publisher: Publisher, *, leads: LeadStore | None = None) -> BridgeCount:
    """Forward each incoming record to agent_messages as hop 0, or to dead_letters with the reason."""
    forwarded = dead = 0
    for record in records:
        try:
            envelope = parse_envelope(record.value)
        except ContractError as error:
            publisher.publish(DEAD_LETTERS, DeadLetter.from_error(record.value, error, stage="validation"))
            logger.warning("incoming record at offset %d dead-lettered: %s", record.offset, error)
            dead += 1
            continue
        if envelope.hop != 0:
            envelope = envelope.model_copy(update={"hop": 0})
        if leads is not None:
            leads.record(envelope.lead_id, envelope.lead)
        publisher.publish(AGENT_MESSAGES, envelope)
        logger.info("bridged message_id=%s lead_id=%s produced_by=%s", envelope.message_id, envelope.lead_id,
                    envelope.produced_by)
        forwarded += 1
    return BridgeCount(forwarded, dead)


def run_bridge(bus: KafkaBus, *, stop: threading.Event, leads: LeadStore | None = None,
               group: str = BRIDGE_GROUP, idle_s: float = 1.0) -> None:
    """Bridge until `stop` is set; offsets are committed by the consumer group, so a restart resumes."""
    logger.info("bridge %s -> %s started (group %s)", INCOMING_LEADS, AGENT_MESSAGES, group)
    while not stop.is_set():
        with contextlib.closing(bus.follow([INCOMING_LEADS], group=group, idle_timeout_s=idle_s)) as records:
            for record in records:
                forward([record], bus, leads=leads)
                if stop.is_set():
                    break
    logger.info("bridge stopped")
