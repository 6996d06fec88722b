"""The routing job's logic as plain Python: what each operator does with one record.

The Flink job (`job.py`) is a thin shell around these five steps, so all of this is
tested without a cluster:

    Gate        bound size and depth, validate the envelope, enforce the hop limit, stamp the prompt version
    Dedupe      per lead: drop a redelivered copy of a message (same message_id) before it costs anything
    RouteStep   ask the router (async) which agent takes it
    Ledger      per lead: add tokens and cost, detect loops along the message's chain, stop on a limit, else dispatch
    Dispatcher  POST the envelope to the agent (async, retried), set it aside if the agent stays down
    Redeliver   per lead: take back what was set aside on `redeliveries` once it falls due

Every step returns `Output`s: a record for a Kafka topic, or a task for the next step.

A passing failure (an agent down or overloaded, the model unreachable) does not end a lead: after a
few quick attempts the task is set aside on `redeliveries` with a due time that doubles each round
(minutes, not seconds), and only a task that keeps failing for the whole schedule is dead-lettered,
with its decision, so `sdr-pipeline deadletters replay` can deliver it to the same agent later. A
message already dispatched keeps its first decision when it comes back, so a replay never forks a
lead between two agents.

No record can fail the job. A job that fails on a record resumes from the checkpoint before it and
meets it again, so one poison pill would stop the pipeline for good: each step therefore refuses
what it cannot safely parse (a null, an oversized or too deeply nested value) and catches whatever
else it did not foresee at its edge, dead-lettering the record with the error's type and message.
A dead letter is cut to fit the producer's message size limit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Protocol

import httpx
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from sdr_pipeline.backoff import Backoff
from sdr_pipeline.contracts.decision import (
    ControlMessage,
    DeadLetter,
    RoutingDecision,
    RoutingPolicy,
    parse_control_message,
)
from sdr_pipeline.contracts.envelope import Envelope, parse_envelope, utc_now
from sdr_pipeline.contracts.payloads import INBOUND_EMAIL
from sdr_pipeline.contracts.parsing import first_problem, parse_json_model
from sdr_pipeline.contracts.raw import RecordBounds, check_raw, fit_dead_letter
from sdr_pipeline.contracts.review import REVIEW_FIELD, ReviewVerdict
from sdr_pipeline.contracts.signing import request_headers
from sdr_pipeline.contracts.topics import (
    AGENT_MESSAGES,
    DEAD_LETTERS,
    NEEDS_REVIEW,
    REDELIVERIES,
    ROUTER_CONTROL,
    ROUTING_DECISIONS,
    WORKFLOW_EVENTS,
)
from sdr_pipeline.contracts.workflow import DispatchTask, Redelivery, RedeliveryStage, RouteTask, WorkflowEvent
from sdr_pipeline.exceptions import AgentCallError, ContractError, LLMUnavailableError, SdrPipelineError
from sdr_pipeline.registry import NONE_AGENT, AgentRegistry
from sdr_pipeline.router import Cascade, ExamplePool, RouterPrompt, adecide, load_knowledge
from sdr_pipeline.settings import Settings

__all__ = [
    "DECIDED",
    "DISPATCH",
    "HELD",
    "ROUTE",
    "Dedupe",
    "Dispatcher",
    "Gate",
    "LeadLedger",
    "Ledger",
    "Limits",
    "Output",
    "NO_REDELIVERY",
    "Redeliver",
    "RouteStep",
    "SeenMessages",
    "input_hash",
    "redelivery_backoff",
    "timeout_dead_letter",
]

logger = logging.getLogger(__name__)

ROUTE = "__route__"
"""Pseudo-topic: a RouteTask for the router."""
DECIDED = "__decided__"
"""Pseudo-topic: a DispatchTask carrying a fresh decision, for the ledger."""
DISPATCH = "__dispatch__"
"""Pseudo-topic: a DispatchTask the ledger approved (or a redelivery released), for the dispatcher."""
HELD = "__held__"
"""Pseudo-topic: a verified Redelivery, for the keyed wait until it falls due."""


@dataclass(frozen=True)
class Output:
    """One record a step emits: `topic` is a Kafka topic or one of the pseudo-topics above."""

    topic: str
    key: str
    value: str

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.topic, self.key, self.value)


def _dead(raw: str, error: BaseException, *, stage: str, bounds: RecordBounds, lead_id: str | None = None,
          message_id: str | None = None, agent: str | None = None, reason: str | None = None,
          decision: RoutingDecision | None = None) -> Output:
    letter = DeadLetter.from_error(raw, error, stage=stage)  # type: ignore[arg-type]
    patch: dict[str, object] = {k: v for k, v in {"lead_id": lead_id, "message_id": message_id, "agent": agent,
                                                  "decision": decision}.items() if v and not getattr(letter, k)}
    if reason is not None:
        patch["reason"] = reason
    letter = fit_dead_letter(letter.model_copy(update=patch) if patch else letter, bounds.dead_letter_bytes)
    logger.warning("dead letter (%s) lead_id=%s message_id=%s: %s", stage, letter.lead_id, letter.message_id,
                   letter.reason[:500])
    return Output(DEAD_LETTERS, letter.lead_id or "", letter.model_dump_json())


def _unforeseen(raw: str, error: Exception, *, stage: str, bounds: RecordBounds, lead_id: str | None = None,
                message_id: str | None = None, agent: str | None = None) -> Output:
    """The job's dead-letter boundary: an error no step expected sets the record aside instead of failing the job."""
    logger.error("the %s step failed on lead_id=%s message_id=%s with an unforeseen %s; the record goes to %s",
                 stage, lead_id, message_id, type(error).__name__, DEAD_LETTERS, exc_info=error)
    reason = (f"{type(error).__name__}: {error or 'no message'} — the job's {stage} step did not expect this; the "
              f"record was set aside so the job keeps running (a bug: report it with this dead letter)")
    return _dead(raw, error, stage=stage, bounds=bounds, lead_id=lead_id, message_id=message_id, agent=agent,
                 reason=reason)


def _check_bounds(raw: str | None, bounds: RecordBounds, *, topic: str, contract: str) -> str:
    """`raw` if the job may parse it; a null, an oversized or a too deeply nested value raises ContractError."""
    hint = ("a null deletes an announcement, it names no version: the live version is unchanged; announce one "
            "with `sdr-pipeline prompts promote`" if topic == ROUTER_CONTROL else
            "a null carries no envelope and deletes nothing on this topic: producers must write a JSON envelope "
            "(compaction is off here)")
    return check_raw(raw, bounds, where=topic, contract=contract, null_hint=hint)


def _event(event: WorkflowEvent) -> Output:
    return Output(WORKFLOW_EVENTS, event.lead_id, event.model_dump_json())


def timeout_dead_letter(task_json: str, *, stage: str, bounds: RecordBounds = RecordBounds()) -> Output:
    """The record for a task whose async operator ran out of time: it goes to dead_letters, never lost."""
    try:
        task = (RouteTask if stage == "routing" else DispatchTask).model_validate_json(task_json)
    except Exception as error:  # noqa: BLE001 — the dead-letter boundary of the timeout path
        return _unforeseen(task_json, error, stage=stage, bounds=bounds)
    error = TimeoutError(f"the {stage} step did not finish within the operator's timeout")
    return _dead(task.raw_value, error, stage=stage, bounds=bounds, lead_id=task.envelope.lead_id,
                 message_id=task.envelope.message_id, decision=getattr(task, "decision", None))


NO_REDELIVERY = Backoff(attempts=0, initial_s=30.0, max_s=900.0)
"""Steps built without a schedule (a unit test, a quick graph) dead-letter a passing failure at once."""


def redelivery_backoff(settings: Settings) -> Backoff:
    """The redelivery schedule the settings describe (SDR_REDELIVERY_*)."""
    return Backoff(settings.redelivery_attempts, settings.redelivery_initial_s, settings.redelivery_max_s)


def _set_aside(stage: RedeliveryStage, task: RouteTask | DispatchTask, error: BaseException, *,
               policy: Backoff, secret: str, bounds: RecordBounds,
               agent: str | None = None) -> list[Output] | None:
    """The task on `redeliveries`, due after the policy's next wait, and a `retrying` event; None once the
    policy's attempts are spent, or when the record would not fit the producer's limit (the caller then
    dead-letters it)."""
    redelivery = task.redeliveries + 1
    if redelivery > policy.attempts or not secret:
        return None
    delay_s = policy.delay_s(redelivery)
    envelope = task.envelope
    record = Redelivery(stage=stage, task=task.model_copy(update={"redeliveries": redelivery}).model_dump_json(),
                        lead_id=envelope.lead_id, message_id=envelope.message_id,
                        due_ms=int((time.time() + delay_s) * 1000), last_error=str(error)[:1000]).signed(secret)
    value = record.model_dump_json()
    if len(value.encode()) > bounds.dead_letter_bytes:
        return None
    logger.warning("%s of lead_id=%s message_id=%s failed (%s); set aside, redelivery %d of %d in %g s", stage,
                   envelope.lead_id, envelope.message_id, str(error)[:300], redelivery, policy.attempts, delay_s)
    event = WorkflowEvent(
        kind="retrying", lead_id=envelope.lead_id, message_id=envelope.message_id, agent=agent,
        reason=f"{stage} failed for a passing reason ({str(error)[:300]}); tried again in {delay_s:g} s "
               f"(redelivery {redelivery} of {policy.attempts})",
        figures={"stage": stage, "redelivery": redelivery, "of": policy.attempts, "delay_s": delay_s})
    return [Output(REDELIVERIES, envelope.lead_id, value), _event(event)]


def _spent(error: BaseException, redeliveries: int) -> str | None:
    """The dead letter's reason for a task whose redeliveries are spent (None: the error's own words)."""
    if not redeliveries:
        return None
    return (f"{error}; still failing after {redeliveries} redeliveries — once the cause is fixed, replay it with "
            "`sdr-pipeline deadletters replay`")


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
    bounds: RecordBounds = RecordBounds()

    def on_message(self, raw: str | None, live_version: str | None) -> list[Output]:
        """One agent_messages value (None for a tombstone): a task for the router, an event, or a dead letter."""
        try:
            return self._on_message(raw, live_version)
        except Exception as error:  # noqa: BLE001 — the job's dead-letter boundary: no record may fail the job
            return [_unforeseen(raw or "", error, stage="validation", bounds=self.bounds)]

    def _on_message(self, raw: str | None, live_version: str | None) -> list[Output]:
        try:
            raw = _check_bounds(raw, self.bounds, topic=AGENT_MESSAGES, contract="envelope")
            envelope = parse_envelope(raw)
        except ContractError as error:
            return [_dead(raw or "", error, stage="validation", bounds=self.bounds)]
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
            field, message = first_problem(error)
            problem = ContractError(REVIEW_FIELD, message, field=field, message_id=envelope.message_id,
                                    lead_id=envelope.lead_id)
            return [_dead(raw, problem, stage="validation", bounds=self.bounds)]
        if not review.valid_for(envelope.message_id, self.review_secret):
            problem = ContractError(REVIEW_FIELD, "the review verdict's signature is not valid (or SDR_REVIEW_SECRET "
                                    "is not set): nothing on the topic may choose an agent", field="signature",
                                    message_id=envelope.message_id, lead_id=envelope.lead_id)
            return [_dead(raw, problem, stage="validation", bounds=self.bounds)]
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

    def on_control(self, raw: str | None) -> tuple[ControlMessage | None, list[Output]]:
        """A control message switches the version if the job knows it; otherwise it is dead-lettered."""
        try:
            return self._on_control(raw)
        except Exception as error:  # noqa: BLE001 — the job's dead-letter boundary: no record may fail the job
            return None, [_unforeseen(raw or "", error, stage="control", bounds=self.bounds)]

    def _on_control(self, raw: str | None) -> tuple[ControlMessage | None, list[Output]]:
        try:
            raw = _check_bounds(raw, self.bounds, topic=ROUTER_CONTROL, contract="router_control")
            control = parse_control_message(raw)
        except ContractError as error:
            return None, [_dead(raw or "", error, stage="control", bounds=self.bounds)]
        if (control.prompt, control.version) not in self.prompts:
            known = sorted(version for name, version in self.prompts if name == control.prompt)
            error = ContractError("router_control", f"unknown prompt version {control.prompt}/{control.version}; "
                                  f"this job knows {', '.join(known) or 'none'} — add the file under prompts/ and redeploy",
                                  field="version")
            return None, [_dead(raw, error, stage="control", bounds=self.bounds)]
        logger.info("prompt switched: %s -> %s", control.prompt, control.version)
        event = WorkflowEvent(kind="prompt_switched", lead_id=control.prompt, reason=f"now routing with {control.prompt} "
                              f"{control.version}", figures={"version": control.version})
        return control, [_event(event)]


class SeenMessages(Protocol):
    """The keyed state Dedupe needs (Flink's MapState has these two methods): message identity -> first seen."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Dedupe:
    """Second operator (keyed by lead): a message is taken once, whoever delivers it again.

    At-least-once delivery is the rule here (bridge and producer retries, an agent's output written
    again after a crash, a double click), so a copy with a message_id already seen becomes a `duplicate`
    event before it costs a model call, budget or a loop check. A reviewer's verdict is its own message
    (the original's id plus `#review`), so the verdict is not a copy of what it resolves.
    """

    bounds: RecordBounds = RecordBounds()

    def apply(self, row: tuple[str, str, str], seen: SeenMessages) -> list[Output]:
        """`row` is a gate output: (ROUTE, lead_id, RouteTask) or (DECIDED, lead_id, DispatchTask of a verdict)."""
        topic, key, value = row
        envelope = None
        try:
            task = RouteTask.model_validate_json(value) if topic == ROUTE else DispatchTask.model_validate_json(value)
            envelope = task.envelope
            identity = envelope.message_id if topic == ROUTE else f"{envelope.message_id}#review"
            first_seen = seen.get(identity)
            if first_seen is None:
                seen.put(identity, utc_now().isoformat())
                return [Output(topic, key, value)]
        except Exception as error:  # noqa: BLE001 — the job's dead-letter boundary: no record may fail the job
            return [_unforeseen(value, error, stage="validation", bounds=self.bounds,
                                lead_id=envelope.lead_id if envelope else key,
                                message_id=envelope.message_id if envelope else None)]
        what = "message" if topic == ROUTE else "review verdict for message"
        logger.info("duplicate lead_id=%s message_id=%s (first seen %s): dropped", envelope.lead_id,
                    envelope.message_id, first_seen)
        return [_event(WorkflowEvent(
            kind="duplicate", lead_id=envelope.lead_id, message_id=envelope.message_id,
            reason=f"{what} {envelope.message_id} was already taken at {first_seen}; this copy (a redelivery, a "
                   "producer retry or a double submission) is dropped: nothing routed, charged or stopped",
            figures={"first_seen": first_seen, "hop": envelope.hop, "produced_by": envelope.produced_by}))]


@dataclass(frozen=True)
class RouteStep:
    """Third operator (async): the router's decision for one task."""

    prompts: Mapping[tuple[str, str], RouterPrompt]
    registry: AgentRegistry
    policy: RoutingPolicy
    answer_attempts: int = 3
    pool: ExamplePool | None = None
    """Labelled examples for prompts that show the nearest ones."""
    cascade: Cascade | None = None
    """The classifier and thresholds of the `cascade` policy."""
    bounds: RecordBounds = RecordBounds()
    redelivery: Backoff = NO_REDELIVERY
    secret: str = field(default="", repr=False)
    """The routing job's key: signs what it sets aside on `redeliveries` (nothing is set aside without it)."""

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
        task = None
        try:
            task = RouteTask.model_validate_json(task_json)
            return await self._run(task, llm)
        except Exception as error:  # noqa: BLE001 — the job's dead-letter boundary: no record may fail the job
            return [_unforeseen(task.raw_value if task else task_json, error, stage="routing", bounds=self.bounds,
                                lead_id=task.envelope.lead_id if task else None,
                                message_id=task.envelope.message_id if task else None)]

    async def _run(self, task: RouteTask, llm: object) -> list[Output]:
        envelope = task.envelope
        prompt = self.prompts.get((task.prompt_name, task.prompt_version))
        if prompt is None:  # a replay stamped with a version this job was not deployed with
            known = sorted(version for name, version in self.prompts if name == task.prompt_name)
            error = ContractError("route task", f"unknown prompt version {task.prompt_name}/{task.prompt_version}; "
                                  f"this job knows {', '.join(known) or 'none'}", field="prompt_version",
                                  message_id=envelope.message_id, lead_id=envelope.lead_id)
            return [_dead(task.raw_value, error, stage="routing", bounds=self.bounds)]
        try:
            decision = await adecide(envelope, prompt=prompt, policy=self.policy, llm=llm,  # type: ignore[arg-type]
                                     registry=self.registry, pool=self.pool, cascade=self.cascade,
                                     answer_attempts=self.answer_attempts)
        except LLMUnavailableError as error:  # the model is down or overloaded: a passing failure
            return (_set_aside("routing", task, error, policy=self.redelivery, secret=self.secret,
                               bounds=self.bounds)
                    or [_dead(task.raw_value, error, stage="routing", bounds=self.bounds, lead_id=envelope.lead_id,
                              message_id=envelope.message_id, reason=_spent(error, task.redeliveries))])
        except SdrPipelineError as error:
            return [_dead(task.raw_value, error, stage="routing", bounds=self.bounds, lead_id=envelope.lead_id,
                          message_id=envelope.message_id)]
        logger.info("routed lead_id=%s message_id=%s hop=%d -> %s (%s, prompt %s)", envelope.lead_id,
                    envelope.message_id, envelope.hop, decision.agent, decision.policy, decision.prompt_version)
        dispatch = DispatchTask(envelope=envelope, decision=decision, raw_value=task.raw_value)
        return [Output(DECIDED, envelope.lead_id, dispatch.model_dump_json())]


_CHAIN_KEPT = 256
"""Dispatched messages a lead's ledger remembers for loop checks, oldest forgotten first; a chain is at most
max_hops long, so this holds many chains."""


@dataclass
class LeadLedger:
    """What the job remembers per lead (Flink keyed state, stored as JSON)."""

    tokens: int = 0
    cost_usd: float = 0.0
    """Tokens and cost since the lead was opened (or last reopened by a reply)."""
    decisions: int = 0
    chain: dict[str, list[str | None]] = field(default_factory=dict)
    """message_id -> [parent_message_id, `agent:input_hash`] of each message dispatched, oldest first: the
    workflow chains a loop check walks."""
    stopped: str | None = None
    """The limit that stopped this lead, if any."""
    reopens: int = 0
    """Times a new inbound reply lifted a stop."""

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, raw: str | None) -> LeadLedger:
        """The ledger stored as `raw`; fields an older job stored and this one no longer keeps are dropped."""
        data = json.loads(raw) if raw else {}
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def ancestors(self, message_id: str | None) -> Iterator[str]:
        """The signatures of `message_id` and of each message it descends from, as far as this lead dispatched."""
        visited: set[str] = set()
        while message_id is not None and message_id in self.chain and message_id not in visited:
            visited.add(message_id)
            parent, signature = self.chain[message_id]
            yield signature or ""
            message_id = parent

    def sibling(self, message_id: str, parent_message_id: str | None, signature: str) -> str | None:
        """Another message already dispatched from the same parent with the same agent and input, if any."""
        if parent_message_id is None:
            return None
        return next((other for other, (parent, seen) in self.chain.items()
                     if parent == parent_message_id and seen == signature and other != message_id), None)

    def first_agent(self, message_id: str) -> str | None:
        """The agent `message_id` was dispatched to, if this lead's ledger dispatched it already."""
        entry = self.chain.get(message_id)
        return (entry[1] or "").split(":", 1)[0] or None if entry else None

    def remember(self, message_id: str, parent_message_id: str | None, signature: str) -> None:
        self.chain[message_id] = [parent_message_id, signature]
        for oldest in list(self.chain)[:max(0, len(self.chain) - _CHAIN_KEPT)]:
            del self.chain[oldest]


@dataclass(frozen=True)
class Ledger:
    """Fourth operator (keyed by lead): account for the decision, then stop, end or dispatch.

    Loops are judged per workflow chain: a message is a loop only if one of its own ancestors
    (`parent_message_id`, followed back) was given to the same agent with the same input. The same input
    from the same parent a second time is a duplicate, dropped without stopping anything; the same input
    on another chain (a resubmission, a new reply) is new work. A new inbound reply reopens a stopped lead.
    A message dispatched before that comes back (a replay from dead_letters) keeps its first agent, whatever
    the router says now: one message is taken by one agent.
    """

    limits: Limits
    bounds: RecordBounds = RecordBounds()

    def step(self, state: str | None, task_json: str) -> tuple[str | None, list[Output]]:
        """The Flink shell's entry: the lead's state (JSON) after `task_json`, unchanged if the task fails."""
        task = None
        try:
            task = DispatchTask.model_validate_json(task_json)
            ledger, outputs = self._apply(LeadLedger.from_json(state), task, task_json)
            return ledger.to_json(), outputs
        except Exception as error:  # noqa: BLE001 — the job's dead-letter boundary: no record may fail the job
            return state, [_unforeseen(task.raw_value if task else task_json, error, stage="routing",
                                       bounds=self.bounds, lead_id=task.envelope.lead_id if task else None,
                                       message_id=task.envelope.message_id if task else None,
                                       agent=task.decision.agent if task else None)]

    def apply(self, ledger: LeadLedger, task_json: str) -> tuple[LeadLedger, list[Output]]:
        """`ledger` after one decision (changed in place), and what goes on."""
        return self._apply(ledger, DispatchTask.model_validate_json(task_json), task_json)

    def _apply(self, ledger: LeadLedger, task: DispatchTask, task_json: str) -> tuple[LeadLedger, list[Output]]:
        first = ledger.first_agent(task.envelope.message_id)
        if first is not None and first != task.decision.agent:
            task = self._first_decision_stands(task, first)
            task_json = task.model_dump_json()
        decision, envelope = task.decision, task.envelope
        base = {"lead_id": envelope.lead_id, "message_id": envelope.message_id, "agent": decision.agent}
        outputs: list[Output] = []
        if ledger.stopped and envelope.produced_by == INBOUND_EMAIL:
            outputs.append(_event(WorkflowEvent(
                kind="reopened", limit=ledger.stopped, **base,
                figures={"tokens": ledger.tokens, "cost_usd": ledger.cost_usd, "reopens": ledger.reopens + 1},
                reason=f"a new reply from the lead lifts its {ledger.stopped} stop; routing resumes with a fresh "
                       "token and cost budget")))
            logger.info("lead_id=%s reopened by reply message_id=%s (was stopped by %s)", envelope.lead_id,
                        envelope.message_id, ledger.stopped)
            ledger.stopped, ledger.tokens, ledger.cost_usd = None, 0, 0.0
            ledger.reopens += 1
        ledger.tokens += decision.total_tokens
        ledger.cost_usd += decision.cost_usd
        ledger.decisions += 1
        outputs.append(Output(ROUTING_DECISIONS, decision.lead_id, decision.model_dump_json()))
        if ledger.stopped:
            outputs.append(_event(WorkflowEvent(kind="limit", limit=ledger.stopped, **base,
                                                reason=f"lead already stopped by its {ledger.stopped} limit; "
                                                       "a new reply from the lead would reopen it")))
            return ledger, outputs
        limit = self._exceeded(ledger)
        if limit is not None:
            name, used, allowed = limit
            ledger.stopped = name
            outputs.append(_event(WorkflowEvent(
                kind="limit", limit=name, **base, figures={"used": used, "allowed": allowed},
                reason=f"routing {name} budget exceeded: {used:g} used, {allowed:g} allowed; workflow stopped")))
            return ledger, outputs
        if decision.needs_review and first is None:
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
        if signature in ledger.ancestors(envelope.parent_message_id):
            ledger.stopped = "loop"
            outputs.append(_event(WorkflowEvent(
                kind="limit", limit="loop", **base, figures={"hop": envelope.hop, "repeats": signature},
                reason=f"loop: {decision.agent} was already given this exact input earlier in this message's "
                       "chain; workflow stopped")))
            return ledger, outputs
        twin = ledger.sibling(envelope.message_id, envelope.parent_message_id, signature)
        if twin is not None:
            outputs.append(_event(WorkflowEvent(
                kind="duplicate", **base, figures={"hop": envelope.hop, "same_as": twin,
                                                   "parent_message_id": envelope.parent_message_id},
                reason=f"{decision.agent} was already given this exact input from the same parent (message "
                       f"{twin}); this copy is dropped, the lead goes on")))
            return ledger, outputs
        ledger.remember(envelope.message_id, envelope.parent_message_id, signature)
        outputs.append(Output(DISPATCH, envelope.lead_id, task_json))
        return ledger, outputs

    @staticmethod
    def _first_decision_stands(task: DispatchTask, first: str) -> DispatchTask:
        """`task` sent to `first`, the agent this message was dispatched to before."""
        now = task.decision
        logger.warning("lead_id=%s message_id=%s came back and the router now says %s; it stays with %s, which "
                       "took it first", task.envelope.lead_id, task.envelope.message_id, now.agent, first)
        decision = now.model_copy(update={
            "agent": first, "needs_review": False,
            "reason": f"replay: {first} was given this message first and keeps it (the router now said "
                      f"{now.agent}: {now.reason})"})
        return task.model_copy(update={"decision": decision})

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
    """Fifth operator (async): deliver the envelope to its agent, retrying 5xx and timeouts."""

    registry: AgentRegistry
    base_url: str
    """The agents service, e.g. http://127.0.0.1:8100."""
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    bounds: RecordBounds = RecordBounds()
    secret: str = field(default="", repr=False)
    """The dispatch secret every agent verifies (SDR_DISPATCH_SECRET or the stack's key); each attempt is signed,
    and so is what is set aside on `redeliveries`."""
    redelivery: Backoff = NO_REDELIVERY

    @cached_property
    def _urls(self) -> dict[str, str]:
        """Each agent's URL, from the registry's dispatch table: built once per worker, not once per call."""
        return self.registry.dispatch_table(self.base_url)

    async def run(self, task_json: str, client: httpx.AsyncClient) -> list[Output]:
        task = None
        try:
            task = DispatchTask.model_validate_json(task_json)
            return await self._run(task, client)
        except Exception as error:  # noqa: BLE001 — the job's dead-letter boundary: no record may fail the job
            return [_unforeseen(task.raw_value if task else task_json, error, stage="dispatch", bounds=self.bounds,
                                lead_id=task.envelope.lead_id if task else None,
                                message_id=task.envelope.message_id if task else None,
                                agent=task.decision.agent if task else None)]

    async def _run(self, task: DispatchTask, client: httpx.AsyncClient) -> list[Output]:
        envelope, agent = task.envelope, self.registry.get(task.decision.agent)
        url = self._urls[agent.name]
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
            final = AgentCallError(agent.name, f"{error.problem}; {attempts} attempt(s)",
                                   status_code=error.status_code, timeout_s=error.timeout_s,
                                   message_id=envelope.message_id)
            aside = _set_aside("dispatch", task, final, policy=self.redelivery, secret=self.secret,
                               bounds=self.bounds, agent=agent.name) if _retryable(error) else None
            return aside or [_dead(task.raw_value, final, stage="dispatch", bounds=self.bounds,
                                   lead_id=envelope.lead_id, message_id=envelope.message_id, agent=agent.name,
                                   decision=task.decision, reason=_spent(final, task.redeliveries))]
        seconds = time.perf_counter() - started
        logger.info("dispatched lead_id=%s message_id=%s to %s: answered in %.1f s after %d attempt(s)",
                    envelope.lead_id, envelope.message_id, agent.name, seconds, attempts)
        return [_event(WorkflowEvent(kind="dispatched", lead_id=envelope.lead_id, message_id=envelope.message_id,
                                     agent=agent.name, reason=task.decision.reason,
                                     figures={"attempts": attempts, "hop": envelope.hop, "agent_s": round(seconds, 3),
                                              "redeliveries": task.redeliveries}))]

    async def _post(self, client: httpx.AsyncClient, url: str, envelope: Envelope, agent: str, timeout_s: float) -> None:
        body = envelope.to_json().encode()
        headers = {"content-type": "application/json", **request_headers(body, self.secret, url=url)}
        try:
            response = await client.post(url, content=body, timeout=timeout_s, headers=headers)
        except httpx.TimeoutException:
            raise AgentCallError(agent, f"no answer within {timeout_s:g} s", timeout_s=timeout_s,
                                 message_id=envelope.message_id) from None
        except httpx.HTTPError as error:
            raise AgentCallError(agent, f"unreachable at {url} ({type(error).__name__})",
                                 message_id=envelope.message_id) from None
        if response.status_code >= 300:
            raise AgentCallError(agent, response.text[:300] or response.reason_phrase,
                                 status_code=response.status_code, message_id=envelope.message_id)


@dataclass(frozen=True)
class Redeliver:
    """Sixth operator, in two halves: `take` verifies a record from `redeliveries`; the keyed half (per lead,
    Flink processing-time timers, checkpointed with the state) holds it until `due_ms`, then `release` hands
    its task back to the router or the dispatcher.

    A task coming back skips the gate and the dedupe: it was validated and counted once already, and a
    replay is a deliberate second try. It may skip them only because the job signed it.
    """

    secret: str = field(default="", repr=False)
    """The routing job's key (the dispatch secret): only records signed with it are taken."""
    bounds: RecordBounds = RecordBounds()

    def take(self, raw: str | None) -> list[Output]:
        """One `redeliveries` value: (HELD, lead_id, value) for the keyed wait, or a dead letter."""
        try:
            # a record carries its task's value twice; _set_aside wrote none larger than a dead letter
            bounds = replace(self.bounds, record_bytes=self.bounds.dead_letter_bytes)
            raw = check_raw(raw, bounds, where=REDELIVERIES, contract="redelivery",
                            null_hint="only the routing job and `deadletters replay` write here")
            record = parse_json_model(Redelivery, raw, contract="redelivery")
            if not record.valid_for(self.secret):
                raise ContractError("redelivery", "the signature is not the routing job's: nothing written to "
                                    f"{REDELIVERIES} may choose an agent", field="signature",
                                    message_id=record.message_id, lead_id=record.lead_id)
        except ContractError as error:
            return [_dead(raw or "", error, stage="validation", bounds=self.bounds)]
        except Exception as error:  # noqa: BLE001 — the job's dead-letter boundary: no record may fail the job
            return [_unforeseen(raw or "", error, stage="validation", bounds=self.bounds)]
        return [Output(HELD, record.lead_id, raw)]

    @staticmethod
    def due_ms(held: str) -> tuple[str, int]:
        """(message_id, due time) of a value `take` passed on: what the keyed half stores and wakes up for."""
        record = Redelivery.model_validate_json(held)
        return record.message_id, record.due_ms

    @staticmethod
    def release(held: Iterable[tuple[str, str]], now_ms: int) -> tuple[list[str], list[Output]]:
        """Of the (message_id, value) pairs held for one lead, the ids to forget now and what goes on: the due
        tasks for the next step, and a dead letter for a held value this code can no longer read (an upgrade
        changed the record), so no value in state can fail the job."""
        due, outputs = [], []
        for message_id, value in held:
            try:
                record = Redelivery.model_validate_json(value)
            except Exception as error:  # noqa: BLE001 — the job's dead-letter boundary: no record may fail the job
                due.append(message_id)
                outputs.append(_unforeseen(value, error, stage="validation", bounds=RecordBounds(),
                                           message_id=message_id))
                continue
            if record.due_ms <= now_ms:
                due.append(record.message_id)
                outputs.append(Output(ROUTE if record.stage == "routing" else DISPATCH, record.lead_id, record.task))
                logger.info("redelivering lead_id=%s message_id=%s to %s%s", record.lead_id, record.message_id,
                            record.stage, f" (replay of {record.replay_of})" if record.replay_of else "")
        return due, outputs
