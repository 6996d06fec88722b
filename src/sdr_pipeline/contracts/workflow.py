"""Records of a lead's workflow: lifecycle events, and the tasks the routing job passes between its operators."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdr_pipeline.contracts.decision import RoutingDecision
from sdr_pipeline.contracts.envelope import Envelope, utc_now
from sdr_pipeline.contracts.signing import digest, matches

__all__ = ["DispatchTask", "Redelivery", "RedeliveryStage", "RouteTask", "WorkflowEvent", "WorkflowEventKind"]

WorkflowEventKind = Literal["dispatched", "duplicate", "ended", "limit", "prompt_switched", "reopened", "retrying",
                            "review"]
"""`dispatched`: an agent accepted a message; `duplicate`: a copy of a message already taken (same message_id
redelivered, or the same input from the same parent) was dropped, nothing stopped; `ended`: routed to none;
`limit`: a limit stopped the lead; `prompt_switched`: the job took a new prompt version from router_control;
`reopened`: a new inbound reply lifted a limit's stop; `retrying`: a passing failure set the message aside on
`redeliveries`, due again later; `review`: the decision was too unsure to act on and waits on `needs_review`."""


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
    redeliveries: int = Field(default=0, ge=0)
    """Times this task came back from `redeliveries` after a passing failure (0 on its first try, and again
    on a replay from dead_letters, which starts a fresh schedule)."""


class DispatchTask(BaseModel):
    """A routed envelope the dispatcher must deliver to one agent."""

    model_config = ConfigDict(frozen=True)

    envelope: Envelope
    decision: RoutingDecision
    raw_value: str
    redeliveries: int = Field(default=0, ge=0)
    """As RouteTask.redeliveries."""


RedeliveryStage = Literal["routing", "dispatch"]


class Redelivery(BaseModel):
    """A task set aside on `redeliveries`, to be taken back by the routing job once `due_ms` has passed.

    The job writes one when a task failed for a passing reason (an agent down, the model unreachable);
    `sdr-pipeline deadletters replay` writes one to try a dead letter again. A dispatch task names its
    agent, so the job acts only on a record signed with the routing job's key: writing to the topic is not
    enough to choose an agent. The signature covers the task's JSON text as written, so nothing can be
    changed in it without breaking the signature.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: RedeliveryStage
    """Where the task goes back in: the router (a RouteTask) or the dispatcher (a DispatchTask)."""
    task: str
    """The task's JSON, exactly as signed."""
    lead_id: str
    message_id: str
    due_ms: int = Field(ge=0)
    """When it falls due, in Unix milliseconds (Flink's processing-time timers count the same way)."""
    last_error: str = ""
    """Why it was set aside."""
    replay_of: str | None = None
    """`dead_letters/<partition>/<offset>` when it replays a dead letter."""
    signature: str = ""
    """Hex HMAC-SHA256 over every field above."""

    def _signed_text(self) -> bytes:
        return "\n".join(["redelivery", self.stage, self.lead_id, self.message_id, str(self.due_ms),
                          self.last_error, self.replay_of or "", self.task]).encode()

    def signed(self, secret: str) -> Redelivery:
        return self.model_copy(update={"signature": digest(secret, self._signed_text())})

    def valid_for(self, secret: str) -> bool:
        """True when `secret` is set and the signature matches every field."""
        return bool(secret) and matches(digest(secret, self._signed_text()), self.signature)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")
