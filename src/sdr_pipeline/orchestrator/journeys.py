"""A lead's journey, rebuilt from the topics: every message, decision, event and dead letter in time order.

`trace`, the demo's live view and the lead-journeys notebook all read journeys from here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sdr_pipeline.contracts.topics import AGENT_MESSAGES, DEAD_LETTERS, ROUTING_DECISIONS, WORKFLOW_EVENTS
from sdr_pipeline.infra.bus import Record

__all__ = ["JOURNEY_TOPICS", "Step", "is_finished", "journeys", "summary"]

JOURNEY_TOPICS = (AGENT_MESSAGES, ROUTING_DECISIONS, WORKFLOW_EVENTS, DEAD_LETTERS)
"""The topics a journey is read from."""


@dataclass(frozen=True)
class Step:
    """One line of a journey."""

    at: str
    """ISO time the record was made."""
    lead_id: str
    kind: str
    """message | decision | dispatched | ended | limit | dead_letter"""
    hop: int | None
    agent: str | None
    """Producer of a message, chosen agent of a decision, agent of a dispatch or dead letter."""
    detail: str
    """Reason, or a short view of the message's context."""
    message_id: str | None = None
    latency_s: float | None = None
    """The router's time for a decision; the agent's answer time for a dispatch."""
    tokens: int | None = None
    prompt_version: str | None = None


def _context_gist(context: object, width: int = 90) -> str:
    if context is None:
        return "raw lead"
    text = context if isinstance(context, str) else ", ".join(f"{k}={str(v)[:40]}" for k, v in context.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def _step(record: Record) -> Step | None:
    try:
        data = json.loads(record.value)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        return None
    if record.topic == AGENT_MESSAGES:
        if not isinstance(data.get("lead_id"), str):
            return None
        return Step(str(data.get("created_at", "")), data["lead_id"], "message", data.get("hop"), data.get("produced_by"),
                    _context_gist(data.get("context")), message_id=data.get("message_id"))
    if record.topic == ROUTING_DECISIONS:
        return Step(data["decided_at"], data["lead_id"], "decision", data["hop"], data["agent"],
                    f"{data['reason']} ({data['policy']}, confidence {data['confidence']:.2f})",
                    message_id=data["message_id"], latency_s=data["latency_s"],
                    tokens=data["prompt_tokens"] + data["completion_tokens"], prompt_version=data["prompt_version"])
    if record.topic == WORKFLOW_EVENTS:
        if data.get("kind") == "prompt_switched":
            return None
        figures = data.get("figures") or {}
        return Step(data["at"], data["lead_id"], data["kind"], figures.get("hop"), data.get("agent"),
                    data["reason"], message_id=data.get("message_id"), latency_s=figures.get("agent_s"))
    if record.topic == DEAD_LETTERS:
        return Step(data["failed_at"], data.get("lead_id") or "(unknown)", "dead_letter", None, data.get("agent"),
                    f"{data['stage']}: {data['reason']}", message_id=data.get("message_id"))
    return None


def journeys(records: Iterable[Record]) -> dict[str, list[Step]]:
    """Steps per lead, in time order."""
    by_lead: dict[str, list[Step]] = defaultdict(list)
    for record in records:
        step = _step(record)
        if step is not None:
            by_lead[step.lead_id].append(step)
    return {lead: sorted(steps, key=lambda s: s.at) for lead, steps in by_lead.items()}


def is_finished(steps: list[Step]) -> bool:
    """A workflow is over once it ended, hit a limit, or its last message was dead-lettered."""
    if not steps:
        return False
    last_terminal = max((i for i, s in enumerate(steps) if s.kind in ("ended", "limit", "dead_letter")), default=-1)
    last_message = max((i for i, s in enumerate(steps) if s.kind == "message"), default=-1)
    return last_terminal > last_message


def summary(steps: list[Step]) -> str:
    """The agents a lead went through, e.g. `lead_ingestion → lead_scoring → … → none`."""
    return " → ".join(step.agent or "?" for step in steps if step.kind == "decision")
