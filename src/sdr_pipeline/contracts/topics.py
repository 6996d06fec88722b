"""The Kafka topics of the pipeline, declared once.

`infra up` creates exactly this list; every producer and consumer (the Flink job
included) takes topic names from these constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "AGENT_MESSAGES",
    "DEAD_LETTERS",
    "INCOMING_LEADS",
    "NEEDS_REVIEW",
    "REDELIVERIES",
    "ROUTER_CONTROL",
    "ROUTING_DECISIONS",
    "TOPICS",
    "WORKFLOW_EVENTS",
    "TopicSpec",
]

INCOMING_LEADS = "incoming_leads"
AGENT_MESSAGES = "agent_messages"
ROUTING_DECISIONS = "routing_decisions"
DEAD_LETTERS = "dead_letters"
ROUTER_CONTROL = "router_control"
WORKFLOW_EVENTS = "workflow_events"
NEEDS_REVIEW = "needs_review"
REDELIVERIES = "redeliveries"

_DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic and why it is configured the way it is."""

    name: str
    partitions: int
    """Messages of one lead share a key, hence a partition and an order."""
    config: dict[str, str] = field(default_factory=dict)
    """Topic-level configs passed to the broker at creation."""
    purpose: str = ""


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        INCOMING_LEADS, 3,
        {"retention.ms": str(30 * _DAY_MS), "cleanup.policy": "delete"},
        "raw leads from the web form, CRM import and e-mail replies; kept a month for replays",
    ),
    TopicSpec(
        AGENT_MESSAGES, 3,
        {"retention.ms": str(14 * _DAY_MS), "cleanup.policy": "delete"},
        "the shared memory: every envelope agents and intake produce, keyed by lead_id",
    ),
    TopicSpec(
        ROUTING_DECISIONS, 3,
        {"retention.ms": str(90 * _DAY_MS), "cleanup.policy": "delete"},
        "the decision log the lab replays; kept a quarter",
    ),
    TopicSpec(
        DEAD_LETTERS, 1,
        {"retention.ms": str(90 * _DAY_MS), "cleanup.policy": "delete"},
        "messages that failed validation, routing or dispatch, with the reason; one partition for easy reading",
    ),
    TopicSpec(
        ROUTER_CONTROL, 1,
        {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": str(_DAY_MS)},
        "the live prompt version per prompt name: compacted, so the latest announcement always survives",
    ),
    TopicSpec(
        WORKFLOW_EVENTS, 3,
        {"retention.ms": str(90 * _DAY_MS), "cleanup.policy": "delete"},
        "lead lifecycle: workflow ended, limit hit, with reason and figures",
    ),
    TopicSpec(
        NEEDS_REVIEW, 1,
        {"retention.ms": str(90 * _DAY_MS), "cleanup.policy": "delete"},
        "decisions too unsure to act on, with the message, candidates and confidences, for a person to resolve",
    ),
    TopicSpec(
        REDELIVERIES, 3,
        {"retention.ms": str(14 * _DAY_MS), "cleanup.policy": "delete"},
        "tasks set aside after a passing failure (or replayed from dead_letters), signed by the routing job, "
        "which takes each back when it falls due",
    ),
)
