"""The routing job's logic as plain Python: what each operator does with one record.

The Flink job (`job.py`) is a thin shell around these four steps, so all of this is
tested without a cluster:

    Gate        validate the envelope, enforce the hop limit, stamp the live prompt version
    RouteStep   ask the router (async) which agent takes it
    Ledger      per lead: add tokens and cost, detect loops, stop on a limit, else dispatch
    Dispatcher  POST the envelope to the agent (async, retried), dead-letter it if the agent stays down

Every step returns `Output`s: a record for a Kafka topic, or a task for the next step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import httpx
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from sdr_pipeline.contracts.decision import (
    ControlMessage,
    DeadLetter,
    RoutingDecision,
    RoutingPolicy,
    parse_control_message,
)
from sdr_pipeline.contracts.review import REVIEW_FIELD, ReviewVerdict
from sdr_pipeline.contracts.envelope import Envelope, parse_envelope
from sdr_pipeline.contracts.topics import DEAD_LETTERS, NEEDS_REVIEW, ROUTING_DECISIONS, WORKFLOW_EVENTS
from sdr_pipeline.contracts.workflow import DispatchTask, RouteTask, WorkflowEvent
from sdr_pipeline.exceptions import AgentCallError, ContractError, SdrPipelineError
from sdr_pipeline.registry import NONE_AGENT, AgentRegistry
from sdr_pipeline.router import Cascade, ExamplePool, RouterPrompt, adecide, load_knowledge
from sdr_pipeline.settings import Settings

__all__ = [
    "DECIDED",
    "DISPATCH",
    "ROUTE",
    "Dispatcher",
    "Gate",
    "LeadLedger",
    "Ledger",
    "Limits",
    "Output",
    "RouteStep",
    "input_hash",
    "timeout_dead_letter",
]

logger = logging.getLogger(__name__)

ROUTE = "__route__"
"""Pseudo-topic: a RouteTask for the router."""
DECIDED = "__decided__"
"""Pseudo-topic: a DispatchTask carrying a fresh decision, for the ledger."""
DISPATCH = "__dispatch__"
"""Pseudo-topic: a DispatchTask the ledger approved, for the dispatcher."""


@dataclass(frozen=True)
class Output:
    """One record a step emits: `topic` is a Kafka topic or one of the pseudo-topics above."""

    topic: str
    key: str
    value: str

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.topic, self.key, self.value)


def _dead(raw: str, error: BaseException, *, stage: str, lead_id: str | None = None,
          message_id: str | None = None, agent: str | None = None) -> Output:
    letter = DeadLetter.from_error(raw, error, stage=stage)  # type: ignore[arg-type]
    patch = {k: v for k, v in {"lead_id": lead_id, "message_id": message_id, "agent": agent}.items()
             if v and not getattr(letter, k)}
    letter = letter.model_copy(update=patch) if patch else letter
    logger.warning("dead letter (%s) lead_id=%s message_id=%s: %s", stage, letter.lead_id, letter.message_id, letter.reason)
    return Output(DEAD_LETTERS, letter.lead_id or "", letter.model_dump_json())


def _event(event: WorkflowEvent) -> Output:
    return Output(WORKFLOW_EVENTS, event.lead_id, event.model_dump_json())


def timeout_dead_letter(task_json: str, *, stage: str) -> Output:
    """The record for a task whose async operator ran out of time: it goes to dead_letters, never lost."""
    task = (RouteTask if stage == "routing" else DispatchTask).model_validate_json(task_json)
    error = TimeoutError(f"the {stage} step did not finish within the operator's timeout")
    return _dead(task.raw_value, error, stage=stage, lead_id=task.envelope.lead_id, message_id=task.envelope.message_id)


def input_hash(envelope: Envelope) -> str:
    """What an agent would receive, minus ids and timestamps: equal hashes mean the same work again."""
    payload = {"produced_by": envelope.produced_by, "lead": envelope.lead.model_dump(mode="json"),
               "context": envelope.context}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Limits:
    """Per-lead limits, from settings."""

    max_hops: int
    tokens: int
    cost_usd: float


@dataclass(frozen=True)
class Gate:
    """First operator: only valid envelopes within the hop limit go on, stamped with the live prompt version."""

    prompts: Mapping[tuple[str, str], RouterPrompt]
    """Every prompt version the job can switch to, by (name, version)."""
    prompt_name: str
    default_version: str
    limits: Limits
    review_secret: str = ""
    """Key of reviewers' verdicts: a message carrying a verdict signed with it is decided by that person."""
    policy: RoutingPolicy = "cascade"
    """Recorded on a reviewer's decision: the policy that sent the message to review."""

    def on_message(self, raw: str, live_version: str | None) -> list[Output]:
        try:
            envelope = parse_envelope(raw)
        except ContractError as error:
            return [_dead(raw, error, stage="validation")]
        verdict = (envelope.model_extra or {}).get(REVIEW_FIELD)
        if verdict is not None:
            return self._reviewed(envelope, verdict, raw, live_version or self.default_version)
        if envelope.hop >= self.limits.max_hops:
            return [_event(WorkflowEvent(
                kind="limit", lead_id=envelope.lead_id, message_id=envelope.message_id, limit="hops",
                reason=f"hop {envelope.hop} reached the limit of {self.limits.max_hops} hops; workflow stopped",
                figures={"hop": envelope.hop, "max_hops": self.limits.max_hops},
            ))]
        task = RouteTask(envelope=envelope, prompt_name=self.prompt_name,
                         prompt_version=live_version or self.default_version, raw_value=raw)
        return [Output(ROUTE, envelope.lead_id, task.model_dump_json())]

    def _reviewed(self, envelope: Envelope, verdict: object, raw: str, version: str) -> list[Output]:
        """A person's verdict goes straight to the ledger as the decision, if its signature holds."""
        try:
            review = ReviewVerdict.model_validate(verdict)
        except ValidationError as error:
            problem = ContractError(REVIEW_FIELD, error.errors()[0]["msg"], message_id=envelope.message_id,
                                    lead_id=envelope.lead_id)
            return [_dead(raw, problem, stage="validation")]
        if not review.valid_for(envelope.message_id, self.review_secret):
            problem = ContractError(REVIEW_FIELD, "the review verdict's signature is not valid (or SDR_REVIEW_SECRET "
                                    "is not set): nothing on the topic may choose an agent", field="signature",
                                    message_id=envelope.message_id, lead_id=envelope.lead_id)
            return [_dead(raw, problem, stage="validation")]
        prompt = self.prompts[(self.prompt_name, version)]
        decision = RoutingDecision(
            message_id=envelope.message_id, lead_id=envelope.lead_id, hop=envelope.hop, agent=review.agent,
            confidence=1.0, reason=f"review: {review.reviewer} chose {review.agent}" + (f" ({review.note})" if
                                                                                        review.note else ""),
            policy=self.policy, prompt_name=prompt.name, prompt_version=prompt.version, prompt_hash=prompt.hash,
            candidates=[review.agent], llm_called=False, latency_s=0.0, decided_by="review")
        original = Envelope.model_validate({k: v for k, v in envelope.model_dump().items() if k != REVIEW_FIELD})
        task = DispatchTask(envelope=original, decision=decision, raw_value=raw)
        return [Output(DECIDED, envelope.lead_id, task.model_dump_json())]

    def on_control(self, raw: str) -> tuple[ControlMessage | None, list[Output]]:
        """A control message switches the version if the job knows it; otherwise it is dead-lettered."""
        try:
            control = parse_control_message(raw)
        except ContractError as error:
            return None, [_dead(raw, error, stage="control")]
        if (control.prompt, control.version) not in self.prompts:
            known = sorted(version for name, version in self.prompts if name == control.prompt)
            error = ContractError("router_control", f"unknown prompt version {control.prompt}/{control.version}; "
                                  f"this job knows {', '.join(known) or 'none'} — add the file under prompts/ and redeploy",
                                  field="version")
            return None, [_dead(raw, error, stage="control")]
        logger.info("prompt switched: %s -> %s", control.prompt, control.version)
        event = WorkflowEvent(kind="prompt_switched", lead_id=control.prompt, reason=f"now routing with {control.prompt} "
                              f"{control.version}", figures={"version": control.version})
        return control, [_event(event)]


@dataclass(frozen=True)
class RouteStep:
    """Second operator (async): the router's decision for one task."""

    prompts: Mapping[tuple[str, str], RouterPrompt]
    registry: AgentRegistry
    policy: RoutingPolicy
    answer_attempts: int = 3
    pool: ExamplePool | None = None
    """Labelled examples for prompts that show the nearest ones."""
    cascade: Cascade | None = None
    """The classifier and thresholds of the `cascade` policy."""

    @property
    def needs_knowledge(self) -> bool:
        """Whether a prompt shows retrieved examples or the policy is `cascade` (both learn from the pool)."""
        return self.policy == "cascade" or any(prompt.uses_examples for prompt in self.prompts.values())

    def with_knowledge(self, settings: Settings) -> RouteStep:
        """This step with the example pool and cascade the settings describe (a no-op when none is needed)."""
        if not self.needs_knowledge:
            return self
        pool, cascade = load_knowledge(settings, policy=self.policy, prompts=list(self.prompts.values()))
        return replace(self, pool=pool, cascade=cascade)

    async def run(self, task_json: str, llm: object) -> list[Output]:
        task = RouteTask.model_validate_json(task_json)
        envelope = task.envelope
        prompt = self.prompts[(task.prompt_name, task.prompt_version)]
        try:
            decision = await adecide(envelope, prompt=prompt, policy=self.policy, llm=llm,  # type: ignore[arg-type]
                                     registry=self.registry, pool=self.pool, cascade=self.cascade,
                                     answer_attempts=self.answer_attempts)
        except SdrPipelineError as error:
            return [_dead(task.raw_value, error, stage="routing", lead_id=envelope.lead_id,
                          message_id=envelope.message_id)]
        logger.info("routed lead_id=%s message_id=%s hop=%d -> %s (%s, prompt %s)", envelope.lead_id,
                    envelope.message_id, envelope.hop, decision.agent, decision.policy, decision.prompt_version)
        dispatch = DispatchTask(envelope=envelope, decision=decision, raw_value=task.raw_value)
        return [Output(DECIDED, envelope.lead_id, dispatch.model_dump_json())]


@dataclass
class LeadLedger:
    """What the job remembers per lead (Flink keyed state, stored as JSON)."""

    tokens: int = 0
    cost_usd: float = 0.0
    decisions: int = 0
    seen: list[str] = field(default_factory=list)
    """`agent:input_hash` of every dispatch so far, for loop detection."""
    stopped: str | None = None
    """The limit that stopped this lead, if any."""

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, raw: str | None) -> LeadLedger:
        return cls(**json.loads(raw)) if raw else cls()


@dataclass(frozen=True)
class Ledger:
    """Third operator (keyed by lead): account for the decision, then stop, end or dispatch."""

    limits: Limits

    def apply(self, ledger: LeadLedger, task_json: str) -> tuple[LeadLedger, list[Output]]:
        task = DispatchTask.model_validate_json(task_json)
        decision, envelope = task.decision, task.envelope
        ledger.tokens += decision.total_tokens
        ledger.cost_usd += decision.cost_usd
        ledger.decisions += 1
        outputs = [Output(ROUTING_DECISIONS, decision.lead_id, decision.model_dump_json())]
        base = {"lead_id": envelope.lead_id, "message_id": envelope.message_id, "agent": decision.agent}
        if ledger.stopped:
            outputs.append(_event(WorkflowEvent(kind="limit", limit=ledger.stopped, **base,
                                                reason=f"lead already stopped by its {ledger.stopped} limit")))
            return ledger, outputs
        limit = self._exceeded(ledger)
        if limit is not None:
            name, used, allowed = limit
            ledger.stopped = name
            outputs.append(_event(WorkflowEvent(
                kind="limit", limit=name, **base, figures={"used": used, "allowed": allowed},
                reason=f"routing {name} budget exceeded: {used:g} used, {allowed:g} allowed; workflow stopped")))
            return ledger, outputs
        if decision.needs_review:
            outputs.append(Output(NEEDS_REVIEW, envelope.lead_id, task_json))
            outputs.append(_event(WorkflowEvent(
                kind="review", **base, figures={"hop": envelope.hop, "confidence": decision.confidence},
                reason=f"too unsure to act on ({decision.confidence:.2f} likely {decision.agent}): "
                       f"waiting on {NEEDS_REVIEW} for a person to decide")))
            return ledger, outputs
        if decision.agent == NONE_AGENT:
            outputs.append(_event(WorkflowEvent(kind="ended", **base, reason=decision.reason,
                                                figures={"hop": envelope.hop, "tokens": ledger.tokens,
                                                         "cost_usd": ledger.cost_usd})))
            return ledger, outputs
        signature = f"{decision.agent}:{input_hash(envelope)}"
        if signature in ledger.seen:
            ledger.stopped = "loop"
            outputs.append(_event(WorkflowEvent(
                kind="limit", limit="loop", **base, figures={"hop": envelope.hop, "repeats": signature},
                reason=f"loop: {decision.agent} was already given this exact input; workflow stopped")))
            return ledger, outputs
        ledger.seen.append(signature)
        outputs.append(Output(DISPATCH, envelope.lead_id, task_json))
        return ledger, outputs

    def _exceeded(self, ledger: LeadLedger) -> tuple[str, float, float] | None:
        if ledger.tokens > self.limits.tokens:
            return ("tokens", ledger.tokens, self.limits.tokens)
        if ledger.cost_usd > self.limits.cost_usd:
            return ("cost", ledger.cost_usd, self.limits.cost_usd)
        return None


def _retryable(error: BaseException) -> bool:
    if isinstance(error, AgentCallError):
        return error.status_code is None or error.status_code >= 500 or error.status_code == 429
    return False


@dataclass(frozen=True)
class Dispatcher:
    """Fourth operator (async): deliver the envelope to its agent, retrying 5xx and timeouts."""

    registry: AgentRegistry
    base_url: str
    """The agents service, e.g. http://127.0.0.1:8100."""
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0

    async def run(self, task_json: str, client: httpx.AsyncClient) -> list[Output]:
        task = DispatchTask.model_validate_json(task_json)
        envelope, agent = task.envelope, self.registry.get(task.decision.agent)
        url = self.base_url.rstrip("/") + agent.endpoint
        attempts = 0
        started = time.perf_counter()
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(agent.max_attempts),
                wait=wait_exponential_jitter(initial=self.backoff_initial_s, max=self.backoff_max_s),
                retry=retry_if_exception(_retryable), reraise=True,
            ):
                with attempt:
                    attempts += 1
                    await self._post(client, url, envelope, agent.name, agent.timeout_s)
        except AgentCallError as error:
            final = AgentCallError(agent.name, f"{error.problem}; gave up after {attempts} attempt(s)",
                                   status_code=error.status_code, timeout_s=error.timeout_s,
                                   message_id=envelope.message_id)
            return [_dead(task.raw_value, final, stage="dispatch", lead_id=envelope.lead_id,
                          message_id=envelope.message_id, agent=agent.name)]
        seconds = time.perf_counter() - started
        logger.info("dispatched lead_id=%s message_id=%s to %s: answered in %.1f s after %d attempt(s)",
                    envelope.lead_id, envelope.message_id, agent.name, seconds, attempts)
        return [_event(WorkflowEvent(kind="dispatched", lead_id=envelope.lead_id, message_id=envelope.message_id,
                                     agent=agent.name, reason=task.decision.reason,
                                     figures={"attempts": attempts, "hop": envelope.hop,
                                              "agent_s": round(seconds, 3)}))]

    @staticmethod
    async def _post(client: httpx.AsyncClient, url: str, envelope: Envelope, agent: str, timeout_s: float) -> None:
        try:
            response = await client.post(url, content=envelope.to_json(), timeout=timeout_s,
                                         headers={"content-type": "application/json"})
        except httpx.TimeoutException:
            raise AgentCallError(agent, f"no answer within {timeout_s:g} s", timeout_s=timeout_s,
                                 message_id=envelope.message_id) from None
        except httpx.HTTPError as error:
            raise AgentCallError(agent, f"unreachable at {url} ({type(error).__name__})",
                                 message_id=envelope.message_id) from None
        if response.status_code >= 300:
            raise AgentCallError(agent, response.text[:300] or response.reason_phrase,
                                 status_code=response.status_code, message_id=envelope.message_id)
