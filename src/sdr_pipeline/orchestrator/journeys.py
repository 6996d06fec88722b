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

__all__ = ["JOURNEY_TOPICS", "TERMINAL_KINDS", "Step", "is_finished", "journeys", "summary"]

JOURNEY_TOPICS = (AGENT_MESSAGES, ROUTING_DECISIONS, WORKFLOW_EVENTS, DEAD_LETTERS)
"""The topics a journey is read from."""


@dataclass(frozen=True)
class Step:
    """One line of a journey."""

    at: str
    """ISO time the record was made."""
    lead_id: str
    kind: str
    """message | decision | dispatched | duplicate | reopened | review | ended | limit | dead_letter"""
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
    if isinstance(context, dict):
        text = ", ".join(f"{k}={str(v)[:40]}" for k, v in context.items())
    else:
        text = context if isinstance(context, str) else repr(context)
    return text if len(text) <= width else text[: width - 1] + "…"


def _step(record: Record) -> Step | None:
    try:
        data = json.loads(record.value) if record.value is not None else None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
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
        try:
            step = _step(record)
        except (KeyError, TypeError, ValueError, AttributeError):
            step = None  # a malformed record (the job dead-letters it) is no step of any journey
        if step is not None:
            by_lead[step.lead_id].append(step)
    return {lead: sorted(steps, key=lambda s: s.at) for lead, steps in by_lead.items()}


TERMINAL_KINDS = ("ended", "limit", "dead_letter")
"""Steps after which a workflow waits for nothing more (until a new message opens it again)."""


def _copies(steps: list[Step]) -> set[int]:
    """Indexes of message steps that are copies of work already taken: the job dropped them (a `duplicate`
    event names their message_id) or their message_id appeared before (a redelivery not yet judged)."""
    dropped = {s.message_id for s in steps if s.kind == "duplicate" and s.message_id}
    seen: set[str] = set()
    copies = set()
    for index, step in enumerate(steps):
        if step.kind != "message" or step.message_id is None:
            continue
        if step.message_id in seen or step.message_id in dropped:
            copies.add(index)
        seen.add(step.message_id)
    return copies


def is_finished(steps: list[Step]) -> bool:
    """A workflow is over once it ended, hit a limit, or its last message was dead-lettered.

    Only new work reopens it: a copy of a message (redelivered, resubmitted, or dropped by the job as a
    `duplicate`) arriving after the end is not waited for, while a `reopened` event (a reply lifting a
    limit's stop) or a new message is."""
    if not steps:
        return False
    copies = _copies(steps)
    last_terminal = max((i for i, s in enumerate(steps) if s.kind in TERMINAL_KINDS), default=-1)
    last_work = max((i for i, s in enumerate(steps)
                     if (s.kind == "message" and i not in copies) or s.kind == "reopened"), default=-1)
    return last_terminal > last_work


def summary(steps: list[Step]) -> str:
    """The agents a lead went through, e.g. `lead_ingestion → lead_scoring → … → none`."""
    return " → ".join(step.agent or "?" for step in steps if step.kind == "decision")
