"""Everything that crosses a wire: topic names, the envelope, and (later) payloads and decisions."""

from sdr_pipeline.contracts.envelope import ENVELOPE_VERSION, Envelope, Lead, new_message_id, parse_envelope, utc_now
from sdr_pipeline.contracts.topics import (
    AGENT_MESSAGES,
    DEAD_LETTERS,
    INCOMING_LEADS,
    ROUTER_CONTROL,
    ROUTING_DECISIONS,
    TOPICS,
    WORKFLOW_EVENTS,
    TopicSpec,
)

__all__ = [
    "AGENT_MESSAGES",
    "DEAD_LETTERS",
    "ENVELOPE_VERSION",
    "INCOMING_LEADS",
    "ROUTER_CONTROL",
    "ROUTING_DECISIONS",
    "TOPICS",
    "WORKFLOW_EVENTS",
    "Envelope",
    "Lead",
    "TopicSpec",
    "new_message_id",
    "parse_envelope",
    "utc_now",
]
