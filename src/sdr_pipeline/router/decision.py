"""The routing decision: which agent takes this envelope next.

The Flink job (`adecide`, inside its AsyncFunction) and the evaluation lab (`decide`)
call this very code, so what is evaluated is what runs. The logic is written once, as
a generator that yields the model requests it needs and receives their results; the
sync and async entry points only differ in how they send a request.

Policies:
- `llm`: every message is decided by the model, choosing among every agent + none.
- `contract`: agents whose input contract rejects the message are removed first. One
  candidate left -> routed without a model call; none left -> `none` with the reasons;
  otherwise the model chooses among the survivors + none.

An answer that fails validation is re-asked (with the problem stated, so a response
cache cannot replay the same answer) up to `answer_attempts` model calls in all; still
invalid -> RouterDecisionError carrying the raw output. HTTP retries and backoff belong
to the LLM layer, not here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdr_pipeline.contracts.decision import RoutingDecision, RoutingPolicy
from sdr_pipeline.contracts.envelope import Envelope
from sdr_pipeline.exceptions import RouterDecisionError, UserError
from sdr_pipeline.registry import NONE_AGENT, AgentRegistry
from sdr_pipeline.router.prompt import RouterPrompt

if TYPE_CHECKING:
    from sdr_pipeline.llm import ChatClient, LLMResult

__all__ = ["DEFAULT_ANSWER_ATTEMPTS", "POLICIES", "adecide", "answer_schema", "decide"]

logger = logging.getLogger(__name__)

POLICIES: tuple[str, ...] = get_args(RoutingPolicy)
DEFAULT_ANSWER_ATTEMPTS = 3
"""Model calls per decision when the caller does not pass settings.router_answer_attempts."""
_SCHEMA_NAME = "routing_decision"
_ANSWER_MAX_TOKENS = 256
_REASON_MAX_CHARS = 240
"""Room for the JSON answer with a one-sentence reason; a longer answer is cut and re-asked."""


def answer_schema(allowed: Sequence[str]) -> dict[str, Any]:
    """JSON schema of the model's answer; `agent` is an enum of exactly the allowed names.

    `reason` comes first: a constrained decoder writes keys in schema order, and a small
    model that states its reason before naming the agent routes markedly better than one
    that names the agent first and justifies it afterwards (measured on the local model).
    The reason's length is capped so a model that starts repeating itself still closes the
    object within the token budget.
    """
    return {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "maxLength": _REASON_MAX_CHARS},
            "agent": {"type": "string", "enum": list(allowed)},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["reason", "agent", "confidence"],
        "additionalProperties": False,
    }


def decide(
    envelope: Envelope,
    *,
    prompt: RouterPrompt,
    policy: RoutingPolicy,
    llm: ChatClient,
    registry: AgentRegistry,
    answer_attempts: int = DEFAULT_ANSWER_ATTEMPTS,
) -> RoutingDecision:
    """Decide which agent takes `envelope` (blocking; the lab's entry point)."""
    steps = _decision_steps(envelope, prompt=prompt, policy=policy, registry=registry, answer_attempts=answer_attempts)
    outcome = _advance(steps)
    while isinstance(outcome, _ChatRequest):
        outcome = _advance(steps, llm.chat(outcome.messages, schema=outcome.schema, schema_name=_SCHEMA_NAME,
                                           max_tokens=outcome.max_tokens))
    return outcome


async def adecide(
    envelope: Envelope,
    *,
    prompt: RouterPrompt,
    policy: RoutingPolicy,
    llm: ChatClient,
    registry: AgentRegistry,
    answer_attempts: int = DEFAULT_ANSWER_ATTEMPTS,
) -> RoutingDecision:
    """Decide which agent takes `envelope` (async; the Flink AsyncFunction's entry point)."""
    steps = _decision_steps(envelope, prompt=prompt, policy=policy, registry=registry, answer_attempts=answer_attempts)
    outcome = _advance(steps)
    while isinstance(outcome, _ChatRequest):
        outcome = _advance(steps, await llm.achat(outcome.messages, schema=outcome.schema, schema_name=_SCHEMA_NAME,
                                                  max_tokens=outcome.max_tokens))
    return outcome


@dataclass(frozen=True)
class _ChatRequest:
    """One model call the decision needs."""

    messages: list[dict[str, str]]
    schema: dict[str, Any]
    max_tokens: int = _ANSWER_MAX_TOKENS


@dataclass
class _Spent:
    """What the model calls of one decision cost so far."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    all_cached: bool = True
    model: str | None = None
    raw_outputs: list[str] = field(default_factory=list)

    def add(self, result: LLMResult) -> None:
        self.calls += 1
        self.prompt_tokens += result.usage.prompt_tokens
        self.completion_tokens += result.usage.completion_tokens
        self.cost_usd += result.cost_usd
        self.all_cached = self.all_cached and result.cached
        self.model = result.model
        self.raw_outputs.append(result.content)


class _Answer(BaseModel):
    """The model's answer; `agent` is checked against the allowed names separately."""

    model_config = ConfigDict(extra="ignore")

    agent: str
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str = Field(min_length=1)


_Steps = Generator["_ChatRequest", "LLMResult | None", RoutingDecision]


def _advance(steps: _Steps, result: LLMResult | None = None) -> _ChatRequest | RoutingDecision:
    """Feed the last model result in; get the next request, or the finished decision."""
    try:
        return steps.send(result)
    except StopIteration as finished:
        return finished.value


def _decision_steps(
    envelope: Envelope,
    *,
    prompt: RouterPrompt,
    policy: RoutingPolicy,
    registry: AgentRegistry,
    answer_attempts: int,
) -> _Steps:
    """The whole decision, yielding each model request and receiving its result."""
    if policy not in POLICIES:
        raise UserError(f"unknown routing policy '{policy}'", fix=f"set SDR_ROUTER_POLICY to one of {', '.join(POLICIES)}")
    if answer_attempts < 1:
        raise UserError(f"router answer attempts must be at least 1, got {answer_attempts}")
    started = time.perf_counter()

    def decision(agent: str, confidence: float, reason: str, candidates: list[str], spent: _Spent) -> RoutingDecision:
        made = RoutingDecision(
            message_id=envelope.message_id,
            lead_id=envelope.lead_id,
            hop=envelope.hop,
            agent=agent,
            confidence=confidence,
            reason=reason,
            policy=policy,
            prompt_name=prompt.name,
            prompt_version=prompt.version,
            prompt_hash=prompt.hash,
            model=spent.model,
            candidates=candidates,
            llm_called=spent.calls > 0,
            attempts=spent.calls,
            latency_s=time.perf_counter() - started,
            prompt_tokens=spent.prompt_tokens,
            completion_tokens=spent.completion_tokens,
            cost_usd=spent.cost_usd,
            cached=spent.calls > 0 and spent.all_cached,
            raw_output=spent.raw_outputs[-1] if spent.raw_outputs else None,
        )
        logger.info(
            "routed message_id=%s lead_id=%s hop=%s agent=%s policy=%s prompt_version=%s llm_called=%s",
            made.message_id, made.lead_id, made.hop, made.agent, policy, prompt.version, made.llm_called,
        )
        return made

    spent = _Spent()
    if policy == "contract":
        verdicts = registry.candidates(envelope)
        candidates = [name for name, rejection in verdicts.items() if rejection is None]
        if len(candidates) == 1:
            return decision(candidates[0], 1.0, f"contract: only {candidates[0]}'s input contract accepts this message",
                            candidates, spent)
        if not candidates:
            reasons = "; ".join(f"{name}: {rejection}" for name, rejection in verdicts.items())
            return decision(NONE_AGENT, 1.0, f"contract: no agent's input contract accepts this message ({reasons})",
                            candidates, spent)
    else:
        candidates = list(registry.names)

    allowed = [*candidates, NONE_AGENT]
    messages = prompt.render(envelope, registry, allowed=allowed)
    schema = answer_schema(allowed)
    problem = ""
    for attempt in range(1, answer_attempts + 1):
        result = yield _ChatRequest(messages, schema)
        spent.add(result)
        answer, problem = _validate(result, allowed)
        if answer is not None:
            return decision(answer.agent, answer.confidence, answer.reason, candidates, spent)
        logger.warning(
            "invalid router answer message_id=%s lead_id=%s attempt=%s/%s prompt_version=%s: %s",
            envelope.message_id, envelope.lead_id, attempt, answer_attempts, prompt.version, problem,
        )
        messages = [*messages, {"role": "assistant", "content": result.content}, _re_ask(problem, allowed)]
    raise RouterDecisionError(
        f"{problem} (after {answer_attempts} model calls, prompt {prompt.name} {prompt.version})",
        raw_output=spent.raw_outputs[-1],
        message_id=envelope.message_id,
        lead_id=envelope.lead_id,
    )


def _validate(result: LLMResult, allowed: Sequence[str]) -> tuple[_Answer | None, str]:
    """The answer if it is valid, else None and what is wrong with it."""
    data = result.parsed if isinstance(result.parsed, dict) else _parse_json(result.content)
    if not isinstance(data, dict):
        return None, "the answer is not a JSON object"
    try:
        answer = _Answer.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        return None, f"'{'.'.join(str(part) for part in first['loc'])}': {first['msg']}"
    if answer.agent not in allowed:
        return None, f"'agent' is '{answer.agent}', not one of {', '.join(allowed)}"
    return answer, ""


def _parse_json(content: str) -> Any:
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _re_ask(problem: str, allowed: Sequence[str]) -> dict[str, str]:
    return {
        "role": "user",
        "content": (
            f"That answer is invalid: {problem}. Reply with only a JSON object "
            f'{{"reason": one short sentence, "agent": one of [{", ".join(allowed)}], '
            f'"confidence": a number from 0 to 1}}.'
        ),
    }
