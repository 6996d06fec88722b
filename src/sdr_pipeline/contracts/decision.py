"""What the routing job writes besides envelopes: decisions, dead letters, control messages.

A `RoutingDecision` goes to `routing_decisions` for every routed message: it is the
record the lab replays, so it names the exact prompt text (hash), model and policy.
A `DeadLetter` goes to `dead_letters` whenever a message cannot go on, carrying the
original value so nothing is silently dropped. A `ControlMessage` on `router_control`
announces the prompt version the running job must switch to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sdr_pipeline.contracts.envelope import utc_now
from sdr_pipeline.contracts.parsing import parse_json_model

__all__ = [
    "NONE_AGENT",
    "ControlMessage",
    "DeadLetter",
    "DeadLetterStage",
    "RoutingDecision",
    "RoutingPolicy",
    "DecidedBy",
    "parse_control_message",
]

RoutingPolicy = Literal["llm", "contract", "strict", "cascade"]
"""How the router decides (see `sdr_pipeline.router.decision`): `llm` asks the model among every agent;
`contract` narrows by input contracts first (an off-contract message is asked among every agent);
`strict` dead-letters an off-contract message instead; `cascade` lets a calibrated classifier answer
what it is sure of, the model the rest, and sends what neither is sure of to review."""

DecidedBy = Literal["contract", "classifier", "model", "review"]
"""What made the decision: the terminal contract alone, the cascade's classifier, the model, or a person
(a signed review verdict)."""

DeadLetterStage = Literal["validation", "routing", "dispatch", "control"]
"""Where the message stopped: envelope check, router, agent call, or a bad control message."""

NONE_AGENT = "none"
"""The agent name of a decision that ends the lead's workflow: never a registry entry's name."""


class RoutingDecision(BaseModel):
    """One routing decision, with everything needed to replay or audit it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str
    """The routed envelope's message id."""
    lead_id: str
    """The routed envelope's lead id (the Kafka key)."""
    hop: int = Field(ge=0)
    """The routed envelope's hop count."""
    agent: str
    """A registry agent name, or "none" to end the workflow."""
    confidence: float = Field(ge=0.0, le=1.0)
    """Probability that `agent` is right: from the answer's token log-probabilities (or the classifier's
    calibrated probability); 1.0 when the terminal contract decided; the model's stated number only
    where the endpoint returns no log-probabilities."""
    reason: str
    """Why this agent: the model's one-line reason or the contract check that decided."""
    policy: RoutingPolicy
    """Which routing policy produced the decision."""
    prompt_name: str
    """Prompt name (a folder under prompts/)."""
    prompt_version: str
    """Prompt version, e.g. "v2"."""
    prompt_hash: str
    """sha256 of the prompt template: identifies the exact text."""
    model: str | None = None
    """Model that answered; None when no model was asked."""
    candidates: list[str]
    """Agents the decision could choose from (after contract filtering under `contract`)."""
    llm_called: bool
    """Whether the model was asked at all."""
    attempts: int = Field(default=0, ge=0)
    """Model calls made, re-asks for an invalid answer included."""
    latency_s: float = Field(ge=0.0)
    """Wall time of the whole decision, model calls included."""
    prompt_tokens: int = Field(default=0, ge=0)
    """Prompt tokens over every model call of this decision."""
    completion_tokens: int = Field(default=0, ge=0)
    """Completion tokens over every model call of this decision."""
    cost_usd: float = Field(default=0.0, ge=0.0)
    """Model cost of this decision."""
    cached: bool = False
    """True when every model call was served from the response cache."""
    decided_at: datetime = Field(default_factory=utc_now)
    """When the decision was made (UTC)."""
    raw_output: str | None = None
    """The model's last raw answer; None when no model was asked."""
    decided_by: DecidedBy = "model"
    """What made the decision."""
    off_contract: bool = False
    """No input contract accepted the message: its producer drifted and should be fixed."""
    contract_errors: dict[str, str] = Field(default_factory=dict)
    """Each contract's reason for rejecting an off-contract message (empty otherwise)."""
    scores: dict[str, float] = Field(default_factory=dict)
    """Probabilities per candidate where they are known (the classifier's, the model's for its pick)."""
    needs_review: bool = False
    """Too unsure to act on: the job sends it to `needs_review` instead of dispatching."""
    pool_hash: str | None = None
    """sha256 of the example pool the prompt's retrieved examples (or the classifier) came from."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


class DeadLetter(BaseModel):
    """A message that could not go on, with the reason and its original value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    raw_value: str
    """The original Kafka value as received (decoded as UTF-8 with replacement)."""
    reason: str
    """Human-readable reason: the error's message."""
    stage: DeadLetterStage
    """Where processing stopped."""
    error_type: str
    """Class name of the error, e.g. "ContractError" or "RouterDecisionError"."""
    message_id: str | None = None
    """Message id, when the value got far enough to have one."""
    lead_id: str | None = None
    """Lead id, when the value got far enough to have one."""
    agent: str | None = None
    """The agent involved (dispatch failures)."""
    raw_output: str | None = None
    """The model's raw answer, for routing failures."""
    decision: RoutingDecision | None = None
    """The routing decision, for dispatch failures: a replay delivers to the same agent without asking again."""
    failed_at: datetime = Field(default_factory=utc_now)
    """When the message was given up (UTC)."""

    @classmethod
    def from_error(cls, raw_value: bytes | str, error: BaseException, *, stage: DeadLetterStage) -> DeadLetter:
        """Build a dead letter from any error, taking ids and raw output from its fields when it has them."""
        text = raw_value.decode("utf-8", errors="replace") if isinstance(raw_value, bytes) else raw_value
        return cls(
            raw_value=text,
            reason=str(error) or type(error).__name__,
            stage=stage,
            error_type=type(error).__name__,
            message_id=getattr(error, "message_id", None),
            lead_id=getattr(error, "lead_id", None),
            agent=getattr(error, "agent", None),
            raw_output=getattr(error, "raw_output", None) or None,
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


class ControlMessage(BaseModel):
    """`{prompt, version}` on `router_control`: the running job switches to this prompt version."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    prompt: str = Field(min_length=1)
    """Prompt name (the compacted topic's key)."""
    version: str = Field(min_length=1)
    """Prompt version to switch to, e.g. "v3"."""
    announced_at: datetime = Field(default_factory=utc_now)
    """When the switch was announced (UTC)."""

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


def parse_control_message(raw: bytes | str | dict[str, Any]) -> ControlMessage:
    """Validate one control message, turning any failure into a ContractError naming the field."""
    return parse_json_model(ControlMessage, raw, contract="router_control")
