"""Everything that crosses a wire: topic names, the envelope, agent payloads and routing decisions."""

from sdr_pipeline.contracts import payloads as _payloads
from sdr_pipeline.contracts.decision import (
    NONE_AGENT,
    ControlMessage,
    DeadLetter,
    DeadLetterStage,
    RoutingDecision,
    RoutingPolicy,
    parse_control_message,
)
from sdr_pipeline.contracts.envelope import ENVELOPE_VERSION, Envelope, Lead, new_message_id, parse_envelope, utc_now
from sdr_pipeline.contracts.payloads import *  # noqa: F403  (re-exported: its __all__ is part of ours)
from sdr_pipeline.contracts.topics import (
    AGENT_MESSAGES,
    DEAD_LETTERS,
    INCOMING_LEADS,
    NEEDS_REVIEW,
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
    "NEEDS_REVIEW",
    "ROUTER_CONTROL",
    "ROUTING_DECISIONS",
    "TOPICS",
    "WORKFLOW_EVENTS",
    "NONE_AGENT",
    "ControlMessage",
    "DeadLetter",
    "DeadLetterStage",
    "RoutingDecision",
    "RoutingPolicy",
    "parse_control_message",
    "Envelope",
    "Lead",
    "TopicSpec",
    "new_message_id",
    "parse_envelope",
    "utc_now",
    *_payloads.__all__,  # agent payloads and input contracts
]
