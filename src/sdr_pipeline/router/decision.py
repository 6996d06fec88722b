"""The routing decision: which agent takes this envelope next.

The Flink job (`adecide`, inside its AsyncFunction) and the evaluation lab (`decide`)
call this very code, so what is evaluated is what runs. The logic is written once, as
a generator that yields the model requests it needs and receives their results; the
sync and async entry points only differ in how they send a request.

Contracts narrow, they never decide an ending. Every policy first checks the message
against each input contract of the registry (the agents' and `none`'s terminal one):
- `llm`: the model chooses among every agent + none.
- `contract`: the model chooses among the agents whose contract accepts the message + none
  (a junk lead from the web form can still end). When only the terminal contract accepts
  it (a delivery report), it ends without a model call. When no contract accepts it, the
  message is *off-contract*: the model chooses among every agent + none, and the decision
  records it (`off_contract`, each contract's reason, a warning naming the producer).
- `strict`: as `contract`, but an off-contract message is refused (a `ContractError` with
  every contract's reason, which the job dead-letters).
- `cascade`: as `contract`, but a calibrated classifier trained on the example pool answers
  first when its probability reaches `accept_at`; otherwise the model chooses among the
  classifier's few likeliest answers (what the labelled data learnt narrows, as contracts
  do), and a model answer less likely than `review_below` is marked `needs_review`
  instead of being acted on.

The confidence of a model answer is the probability of its agent's tokens (the endpoint's
log-probabilities), not a number the model writes. An answer that fails validation is
re-asked (with the problem stated, so a response cache cannot replay the same answer) up
to `answer_attempts` model calls in all; still invalid -> RouterDecisionError carrying the
raw output. HTTP retries and backoff belong to the LLM layer, not here.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdr_pipeline.contracts.decision import DecidedBy, RoutingDecision, RoutingPolicy
from sdr_pipeline.contracts.envelope import Envelope
from sdr_pipeline.contracts.parsing import first_problem
from sdr_pipeline.exceptions import ContractError, RouterDecisionError, UserError
from sdr_pipeline.registry import NONE_AGENT, AgentRegistry
from sdr_pipeline.router.prompt import AnswerStyle, RouterPrompt

if TYPE_CHECKING:
    from sdr_pipeline.llm import ChatClient, LLMResult
    from sdr_pipeline.router.examples import ExamplePool, RouteClassifier

__all__ = ["DEFAULT_ANSWER_ATTEMPTS", "POLICIES", "Cascade", "adecide", "answer_schema", "decide"]

logger = logging.getLogger(__name__)

POLICIES: tuple[str, ...] = get_args(RoutingPolicy)
DEFAULT_ANSWER_ATTEMPTS = 3
"""Model calls per decision when the caller does not pass settings.router_answer_attempts."""
_SCHEMA_NAME = "routing_decision"
_REASON_MAX_CHARS = {"sentence": 240, "brief": 40}
"""Room for the reason: a sentence, or a few words; a longer answer is cut and re-asked."""
_ANSWER_MAX_TOKENS = {"sentence": 256, "brief": 48, "label": 16}
_TOP_LOGPROBS = 5
_CONTRACTS_DECIDE = frozenset({"contract", "strict", "cascade"})


@dataclass(frozen=True)
class Cascade:
    """The cascade's first stage and its two thresholds, chosen in the lab on dev data."""

    classifier: RouteClassifier
    accept_at: float
    """The classifier answers alone when its calibrated probability is at least this."""
    review_below: float
    """A model answer less likely than this goes to review instead of being acted on."""
    shortlist_mass: float = 0.9
    """The model chooses among the classifier's likeliest answers until they hold this much probability..."""
    shortlist_size: int = 3
    """...and at most this many: the small model chooses far better among a few than among six."""
    model_weight: float = 1.0
    """Exponent on the model's probabilities when they are weighed with the classifier's."""


def answer_schema(allowed: Sequence[str], style: AnswerStyle = "sentence") -> dict[str, Any]:
    """JSON schema of the model's answer; the agent is an enum of exactly the allowed names.

    `label`: the answer is the agent's name alone, a JSON string (a handful of tokens).
    `brief` and `sentence`: an object whose `reason` comes first: a constrained decoder writes
    keys in schema order, and a small model that states its reason before naming the agent
    routes better than one that justifies it afterwards (measured on the local model). The
    reason's length is capped so a model that starts repeating itself still closes the object.
    """
    agent = {"type": "string", "enum": list(allowed)}
    if style == "label":
        return agent
    properties: dict[str, Any] = {"reason": {"type": "string", "maxLength": _REASON_MAX_CHARS[style]}, "agent": agent}
    required = ["reason", "agent"]
    if style == "sentence":
        properties["confidence"] = {"type": "number", "minimum": 0, "maximum": 1}
        required.append("confidence")
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def decide(
    envelope: Envelope,
    *,
    prompt: RouterPrompt,
    policy: RoutingPolicy,
    llm: ChatClient,
    registry: AgentRegistry,
    pool: ExamplePool | None = None,
    cascade: Cascade | None = None,
    answer_attempts: int = DEFAULT_ANSWER_ATTEMPTS,
) -> RoutingDecision:
    """Decide which agent takes `envelope` (blocking; the lab's entry point)."""
    steps = _decision_steps(envelope, prompt=prompt, policy=policy, registry=registry, pool=pool, cascade=cascade,
                            answer_attempts=answer_attempts)
    outcome = _advance(steps)
    while isinstance(outcome, _ChatRequest):
        outcome = _advance(steps, llm.chat(outcome.messages, schema=outcome.schema, schema_name=_SCHEMA_NAME,
                                           max_tokens=outcome.max_tokens, top_logprobs=_TOP_LOGPROBS))
    return outcome


async def adecide(
    envelope: Envelope,
    *,
    prompt: RouterPrompt,
    policy: RoutingPolicy,
    llm: ChatClient,
    registry: AgentRegistry,
    pool: ExamplePool | None = None,
    cascade: Cascade | None = None,
    answer_attempts: int = DEFAULT_ANSWER_ATTEMPTS,
) -> RoutingDecision:
    """Decide which agent takes `envelope` (async; the Flink AsyncFunction's entry point)."""
    steps = _decision_steps(envelope, prompt=prompt, policy=policy, registry=registry, pool=pool, cascade=cascade,
                            answer_attempts=answer_attempts)
    outcome = _advance(steps)
    while isinstance(outcome, _ChatRequest):
        outcome = _advance(steps, await llm.achat(outcome.messages, schema=outcome.schema, schema_name=_SCHEMA_NAME,
                                                  max_tokens=outcome.max_tokens, top_logprobs=_TOP_LOGPROBS))
    return outcome


@dataclass(frozen=True)
class _ChatRequest:
    """One model call the decision needs."""

    messages: list[dict[str, str]]
    schema: dict[str, Any]
    max_tokens: int


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
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """What the model wrote (the `sentence` style); used only when no log-probabilities came back."""
    reason: str = Field(default="", max_length=1000)


_Steps = Generator["_ChatRequest", "LLMResult | None", RoutingDecision]


def _advance(steps: _Steps, result: LLMResult | None = None) -> _ChatRequest | RoutingDecision:
    """Feed the last model result in; get the next request, or the finished decision."""
    try:
        return steps.send(result)
    except StopIteration as finished:
        return finished.value


@dataclass(frozen=True)
class _Narrowed:
    """What the input contracts say about one message."""

    candidates: list[str]
    """Agents the model may choose from (`none` is always allowed besides them)."""
    off_contract: bool
    errors: dict[str, str]
    """Each contract's reason, for an off-contract message."""
    terminal: bool
    """Only the terminal contract accepts it: the workflow is finished."""


def _narrow(envelope: Envelope, registry: AgentRegistry, policy: RoutingPolicy) -> _Narrowed:
    verdicts = registry.candidates(envelope)
    accepting = [name for name, rejection in verdicts.items() if rejection is None]
    agents = [name for name in accepting if name != NONE_AGENT]
    off_contract = not accepting
    errors = {name: str(rejection) for name, rejection in verdicts.items()} if off_contract else {}
    if off_contract:
        logger.warning(
            "off-contract message message_id=%s lead_id=%s from producer %s: no input contract accepts it (%s)",
            envelope.message_id, envelope.lead_id, envelope.produced_by,
            "; ".join(f"{name}: {reason}" for name, reason in errors.items()),
        )
    if policy not in _CONTRACTS_DECIDE or off_contract:
        return _Narrowed(list(registry.names), off_contract, errors, terminal=False)
    return _Narrowed(agents, off_contract, errors, terminal=not agents)


def _decision_steps(
    envelope: Envelope,
    *,
    prompt: RouterPrompt,
    policy: RoutingPolicy,
    registry: AgentRegistry,
    pool: ExamplePool | None,
    cascade: Cascade | None,
    answer_attempts: int,
) -> _Steps:
    """The whole decision, yielding each model request and receiving its result."""
    if policy not in POLICIES:
        raise UserError(f"unknown routing policy '{policy}'", fix=f"set SDR_ROUTER_POLICY to one of {', '.join(POLICIES)}")
    if answer_attempts < 1:
        raise UserError(f"router answer attempts must be at least 1, got {answer_attempts}")
    if policy == "cascade" and cascade is None:
        raise UserError("the cascade policy needs its classifier and thresholds",
                        fix="build them with sdr_pipeline.router.load_cascade (the job does it from settings)")
    started = time.perf_counter()
    narrowed = _narrow(envelope, registry, policy)
    spent = _Spent()

    def decision(agent: str, confidence: float, reason: str, *, decided_by: DecidedBy,
                 scores: dict[str, float] | None = None, needs_review: bool = False) -> RoutingDecision:
        made = RoutingDecision(
            message_id=envelope.message_id, lead_id=envelope.lead_id, hop=envelope.hop, agent=agent,
            confidence=min(1.0, max(0.0, confidence)), reason=reason, policy=policy, prompt_name=prompt.name,
            prompt_version=prompt.version, prompt_hash=prompt.hash, model=spent.model,
            candidates=narrowed.candidates, llm_called=spent.calls > 0, attempts=spent.calls,
            latency_s=time.perf_counter() - started, prompt_tokens=spent.prompt_tokens,
            completion_tokens=spent.completion_tokens, cost_usd=spent.cost_usd,
            cached=spent.calls > 0 and spent.all_cached,
            raw_output=spent.raw_outputs[-1] if spent.raw_outputs else None,
            decided_by=decided_by, off_contract=narrowed.off_contract, contract_errors=narrowed.errors,
            scores=scores or {}, needs_review=needs_review,
            pool_hash=pool.hash if pool is not None and decided_by != "contract" else None,
        )
        logger.info(
            "routed message_id=%s lead_id=%s hop=%s agent=%s policy=%s decided_by=%s confidence=%.2f "
            "prompt_version=%s off_contract=%s needs_review=%s", made.message_id, made.lead_id, made.hop, made.agent,
            policy, decided_by, made.confidence, prompt.version, made.off_contract, needs_review,
        )
        return made

    if narrowed.off_contract and policy == "strict":
        reasons = "; ".join(f"{name}: {reason}" for name, reason in narrowed.errors.items())
        raise ContractError("input contracts", f"no agent's input contract accepts this message from "
                            f"'{envelope.produced_by}' (strict policy): {reasons}",
                            message_id=envelope.message_id, lead_id=envelope.lead_id)
    if narrowed.terminal:
        return decision(NONE_AGENT, 1.0, f"contract: the message satisfies the terminal contract "
                        f"'{registry.none_contract}' and no agent's: the workflow is finished", decided_by="contract")

    allowed = [*narrowed.candidates, NONE_AGENT]
    shortlist: dict[str, float] = {}
    if policy == "cascade" and cascade is not None:
        scores = cascade.classifier.probabilities(envelope)
        ranked = sorted(allowed, key=lambda name: -scores.get(name, 0.0))
        best = ranked[0]
        if scores.get(best, 0.0) >= cascade.accept_at:
            top = {name: round(scores.get(name, 0.0), 4) for name in ranked[:3]}
            return decision(best, scores[best], f"classifier: {scores[best]:.2f} likely {best}, from the labelled "
                            f"examples it was trained on", decided_by="classifier", scores=top)
        shortlist = _shortlist(ranked, scores, mass=cascade.shortlist_mass, most=cascade.shortlist_size)
        allowed = list(shortlist)

    messages = prompt.render(envelope, registry, allowed=allowed, pool=pool)
    schema = answer_schema(allowed, prompt.answer)
    problem = ""
    for attempt in range(1, answer_attempts + 1):
        result = yield _ChatRequest(messages, schema, _ANSWER_MAX_TOKENS[prompt.answer])
        spent.add(result)
        answer, problem = _validate(result, allowed, prompt.answer)
        if answer is not None:
            return _model_decision(decision, answer, result, allowed, shortlist, cascade if policy == "cascade" else None,
                                   off_contract_from=envelope.produced_by if narrowed.off_contract else None)
        logger.warning(
            "invalid router answer message_id=%s lead_id=%s attempt=%s/%s prompt_version=%s: %s",
            envelope.message_id, envelope.lead_id, attempt, answer_attempts, prompt.version, problem,
        )
        messages = [*messages, {"role": "assistant", "content": result.content}, _re_ask(problem, allowed, prompt.answer)]
    raise RouterDecisionError(
        f"{problem} (after {answer_attempts} model calls, prompt {prompt.name} {prompt.version})",
        raw_output=spent.raw_outputs[-1],
        message_id=envelope.message_id,
        lead_id=envelope.lead_id,
    )


def _model_decision(decision: Any, answer: _Answer, result: LLMResult, allowed: Sequence[str],
                    shortlist: dict[str, float], cascade: Cascade | None, *, off_contract_from: str | None,
                    ) -> RoutingDecision:
    """The decision from a valid model answer: its confidence from the log-probabilities and, in the
    cascade, the model's probabilities weighed with the classifier's (a product of the two experts)."""
    model = _choice_probabilities(result, allowed)
    if model is None:
        stated = _answer_probability(result, answer.agent)
        confidence = stated if stated is not None else (answer.confidence if answer.confidence is not None else 1.0)
        model = {answer.agent: confidence}
    agent, confidence = answer.agent, model.get(answer.agent, 0.0)
    reason = answer.reason or f"model: {confidence:.2f} likely {agent}"
    scores = {name: round(value, 4) for name, value in model.items()}
    if cascade is not None and shortlist and len(model) > 1:
        joint = {name: shortlist.get(name, 0.0) * model.get(name, 0.0) ** cascade.model_weight for name in allowed}
        total = sum(joint.values())
        if total > 0:
            agent = max(joint, key=joint.__getitem__)
            confidence = joint[agent] / total
            reason = (f"model {model.get(agent, 0.0):.2f} and classifier {shortlist.get(agent, 0.0):.2f} for {agent}: "
                      f"{confidence:.2f} together")
            scores = {name: round(value / total, 4) for name, value in joint.items()}
    if off_contract_from is not None:
        reason += f" (off-contract message from '{off_contract_from}')"
    review = cascade is not None and confidence < cascade.review_below
    return decision(agent, confidence, reason, decided_by="model", scores=scores, needs_review=review)


def _shortlist(ranked: Sequence[str], scores: dict[str, float], *, mass: float, most: int) -> dict[str, float]:
    """The classifier's likeliest answers, in order, until they hold `mass` of its probability (at most `most`)."""
    chosen: dict[str, float] = {}
    for name in ranked[:most]:
        chosen[name] = round(scores.get(name, 0.0), 4)
        if sum(chosen.values()) >= mass:
            break
    return chosen


def _choice_probabilities(result: LLMResult, choices: Sequence[str]) -> dict[str, float] | None:
    """The model's probability of each choice, renormalised over `choices`, from the alternatives the
    endpoint reported where the answer's name begins (and one token further where names share a start).

    None without log-probabilities, or when the answer's tokens cannot be lined up with a name.
    """
    if not result.logprobs:
        return None
    if not "".join(item.token for item in result.logprobs).startswith('"'):
        return None
    offset, first, lead_in = 0, 0, 0
    for index, item in enumerate(result.logprobs):  # the token where the name starts, after the quote
        if offset + len(item.token) > 1:
            first, lead_in = index, 1 - offset
            break
        offset += len(item.token)

    def masses(position: int, prefix: str, pending: Sequence[str], strip: int) -> dict[str, float]:
        found: dict[str, float] = dict.fromkeys(pending, 0.0)
        for text, logprob in result.logprobs[position].top:
            text = text[strip:] if strip else text
            sharing = [name for name in pending if text and name.startswith(prefix + text)]
            for name in sharing:
                found[name] += math.exp(logprob) / len(sharing)
        return found

    found = masses(first, "", choices, lead_in)
    chosen = result.logprobs[first].token[lead_in:]
    group = [name for name in choices if chosen and name.startswith(chosen)]
    if len(group) > 1 and first + 1 < len(result.logprobs):
        refined = masses(first + 1, chosen, group, 0)
        total = sum(refined.values())
        if total > 0:
            share = sum(found[name] for name in group)
            found.update({name: share * refined[name] / total for name in group})
    total = sum(found.values())
    return {name: value / total for name, value in found.items()} if total > 0 else None


def _answer_probability(result: LLMResult, agent: str) -> float | None:
    """exp(sum of the log-probabilities of the tokens that spell the agent's name in the answer).

    None when the endpoint returned no log-probabilities. The name is looked up in the
    generated tokens themselves (not the content, which an endpoint may have unwrapped), and
    every token overlapping it counts, so a token that joins a quote and the name's start counts.
    """
    if not result.logprobs:
        return None
    generated = "".join(item.token for item in result.logprobs)
    needle = json.dumps(agent)
    start = generated.find(needle)
    if start < 0:
        return None
    begin, end = start + 1, start + len(needle) - 1
    total, offset = 0.0, 0
    for item in result.logprobs:
        token_end = offset + len(item.token)
        if token_end > begin and offset < end:
            total += item.logprob
        offset = token_end
    return math.exp(total)


def _validate(result: LLMResult, allowed: Sequence[str], style: AnswerStyle) -> tuple[_Answer | None, str]:
    """The answer if it is valid, else None and what is wrong with it."""
    data = result.parsed if result.parsed is not None else _parse_json(result.content)
    if isinstance(data, str):
        data = {"agent": data}
    if not isinstance(data, dict):
        return None, "the answer is not a JSON object or agent name"
    if style != "label" and not str(data.get("reason") or "").strip():
        return None, "'reason': missing or empty"
    try:
        answer = _Answer.model_validate(data)
    except ValidationError as error:
        where, problem = first_problem(error)
        return None, f"'{where}': {problem}"
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


def _re_ask(problem: str, allowed: Sequence[str], style: AnswerStyle) -> dict[str, str]:
    names = ", ".join(allowed)
    shape = (f"the agent's name as a JSON string, one of [{names}]" if style == "label" else
             f'a JSON object {{"reason": a few words, "agent": one of [{names}]}}')
    return {"role": "user", "content": f"That answer is invalid: {problem}. Reply with only {shape}."}
