"""Records of a lead's workflow: lifecycle events, and the tasks the routing job passes between its operators."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdr_pipeline.contracts.decision import RoutingDecision
from sdr_pipeline.contracts.envelope import Envelope, utc_now

__all__ = ["DispatchTask", "RouteTask", "WorkflowEvent", "WorkflowEventKind"]

WorkflowEventKind = Literal["dispatched", "duplicate", "ended", "limit", "prompt_switched", "reopened", "review"]
"""`dispatched`: an agent accepted a message; `duplicate`: a copy of a message already taken (same message_id
redelivered, or the same input from the same parent) was dropped, nothing stopped; `ended`: routed to none;
`limit`: a limit stopped the lead; `prompt_switched`: the job took a new prompt version from router_control;
`reopened`: a new inbound reply lifted a limit's stop; `review`: the decision was too unsure to act on and waits
on `needs_review`."""


class WorkflowEvent(BaseModel):
    """One line of a lead's lifecycle on `workflow_events`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: WorkflowEventKind
    lead_id: str
    """The lead, or the prompt name for `prompt_switched`."""
    reason: str
    """What happened, in words."""
    message_id: str | None = None
    agent: str | None = None
    limit: str | None = None
    """For `limit`: hops, loop, tokens or cost; for `reopened`: the limit that was lifted."""
    figures: dict[str, Any] = Field(default_factory=dict)
    """The numbers behind the event (used, allowed, attempts, latency)."""
    at: datetime = Field(default_factory=utc_now)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


class RouteTask(BaseModel):
    """A validated envelope on its way to the router, with the prompt version in force when it arrived."""

    model_config = ConfigDict(frozen=True)

    envelope: Envelope
    prompt_name: str
    prompt_version: str
    raw_value: str
    """The original Kafka value, so a later failure can dead-letter it unchanged."""


class DispatchTask(BaseModel):
    """A routed envelope the dispatcher must deliver to one agent."""

    model_config = ConfigDict(frozen=True)

    envelope: Envelope
    decision: RoutingDecision
    raw_value: str
