"""The agents service: one FastAPI app serving every agent in the registry.

Each registry entry becomes `POST <endpoint>`, handled by `sdr_pipeline.agents.<name>.handle`.
Every call goes the same way:

    Host allowed? (400)  -> signed by the routing job? (401, `SDR_DISPATCH_SECRET`)
    -> read body (JSON, size-limited) -> replay? return the stored answer
    -> taken by another agent? (409) -> claim it
    -> validate against the input contract (422 with the reason)
    -> handle() -> validate against the output contract
    -> publish the output envelope to agent_messages (hop + 1, produced_by = agent)
    -> store the answer -> 200

The output envelope's message id is derived from (agent, input message id), so even a
retry after a crash between publishing and storing publishes the very same message,
which downstream consumers drop as a duplicate. It carries a `producer_signature`, so
send_email can tell e-mails an agent drafted from ones written straight to a topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware

from sdr_pipeline.agents.idempotency import IdempotencyStore
from sdr_pipeline.agents.outbox import Outbox
from sdr_pipeline.agents.recipients import IntakeDirectory, LeadDirectory
from sdr_pipeline.agents.runtime import AgentDeps, AgentHandler, AgentWork, Publisher
from sdr_pipeline.agents.tools import ResearchTools
from sdr_pipeline.backoff import Backoff
from sdr_pipeline.contracts import (
    AGENT_MESSAGES,
    AgentResponse,
    Envelope,
    parse_input,
    validate_payload,
)
from sdr_pipeline.contracts.signing import PRODUCER_SIGNATURE_FIELD, producer_signature
from sdr_pipeline.exceptions import (
    AgentCallError,
    BadRequest,
    ContractError,
    InfraError,
    LLMUnavailableError,
    OutsideError,
    RegistryError,
    UserError,
)
from sdr_pipeline.infra.secrets import shared_secret
from sdr_pipeline.registry import AgentRegistry, AgentSpec, load_registry
from sdr_pipeline.request_body import read_json
from sdr_pipeline.request_signing import SignedRequests
from sdr_pipeline.settings import Settings

if TYPE_CHECKING:
    from sdr_pipeline.infra.bus import Record

__all__ = ["OptOutConsumer", "create_app", "load_handler", "output_message_id"]

logger = logging.getLogger(__name__)

_OUTPUT_NAMESPACE = uuid.UUID("6f1c2a8e-33b5-4c1e-9a57-5d0f1e0b7a21")
_ENVELOPE_FIELDS = frozenset(Envelope.model_fields)


def output_message_id(agent: str, input_message_id: str) -> str:
    """The id of the envelope `agent` publishes for input `input_message_id`: the same on every retry."""
    return uuid.uuid5(_OUTPUT_NAMESPACE, f"{agent}:{input_message_id}").hex


def load_handler(spec: AgentSpec) -> AgentHandler:
    """`sdr_pipeline.agents.<name>.handle`, or a RegistryError naming the entry."""
    module_name = f"sdr_pipeline.agents.{spec.name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise RegistryError(spec.name, f"no module {module_name}; add one with `async def handle(envelope, deps)`") from None
    handle = getattr(module, "handle", None)
    if not callable(handle):
        raise RegistryError(spec.name, f"{module_name} has no `async def handle(envelope, deps)`")
    return handle


def _output_envelope(spec: AgentSpec, source: dict[str, Any], envelope: Envelope, work: AgentWork, *,
                     secret: str) -> Envelope:
    extras = {key: value for key, value in source.items()
              if key not in _ENVELOPE_FIELDS and key != PRODUCER_SIGNATURE_FIELD}
    message_id = output_message_id(spec.name, envelope.message_id)
    context = work.payload.model_dump(mode="json")
    signature = producer_signature(secret, message_id=message_id, lead_id=envelope.lead_id, produced_by=spec.name,
                                   context=context)
    return Envelope(
        **extras,
        message_id=message_id,
        lead_id=envelope.lead_id,
        hop=envelope.hop + 1,
        produced_by=spec.name,
        lead=envelope.lead,
        context=context,
        parent_message_id=envelope.message_id,
        **{PRODUCER_SIGNATURE_FIELD: signature},
    )


class _AgentRoute:
    """One agent's request pipeline."""

    def __init__(self, spec: AgentSpec, handle: AgentHandler, *, deps: AgentDeps, publisher: Publisher,
                 store: IdempotencyStore, max_bytes: int) -> None:
        self.spec = spec
        self.handle = handle
        self.deps = deps
        self.publisher = publisher
        self.store = store
        self.max_bytes = max_bytes

    async def respond(self, request: Request) -> JSONResponse:
        agent = self.spec.name
        message_id = lead_id = None
        try:
            data = await read_json(request, max_bytes=self.max_bytes)
            if not isinstance(data, dict):
                raise BadRequest(422, f"expected a JSON object (an envelope), got {type(data).__name__}")
            message_id = data.get("message_id") if isinstance(data.get("message_id"), str) else None
            lead_id = data.get("lead_id") if isinstance(data.get("lead_id"), str) else None
            if not message_id:
                raise BadRequest(422, "envelope at 'message_id': a message id is required (it is the idempotency key)")
            async with self.store.exclusive(message_id):
                stored = self.store.get(agent, message_id)
                if stored is not None:
                    logger.info("agent=%s message_id=%s lead_id=%s replay: returning the stored answer",
                                agent, message_id, lead_id)
                    answer = AgentResponse.model_validate_json(stored).model_copy(update={"replayed": True})
                    return JSONResponse(answer.model_dump(mode="json"))
                holder = self.store.claim(agent, message_id)
                if holder != agent:
                    raise BadRequest(409, f"message {message_id} was already taken by {holder}; one message goes to "
                                          "one agent (a replay keeps its first decision)")
                try:
                    answer = await self._work(data)
                except BaseException:
                    self.store.release(agent, message_id)
                    raise
                self.store.put(agent, message_id, answer.model_dump_json())
            return JSONResponse(answer.model_dump(mode="json"))
        except BadRequest as problem:
            return self._refuse(problem.status_code, problem.detail, message_id, lead_id)
        except ContractError as error:
            return self._refuse(422, str(error), message_id, lead_id)
        except AgentCallError as error:
            return self._refuse(502, str(error), message_id, lead_id)
        except (LLMUnavailableError, InfraError, OutsideError) as error:
            return self._refuse(503, str(error), message_id, lead_id)
        except UserError as error:
            return self._refuse(500, str(error), message_id, lead_id)

    async def _work(self, data: dict[str, Any]) -> AgentResponse:
        spec = self.spec
        started = time.perf_counter()
        envelope = parse_input(spec.input_contract, data)
        logger.info("agent=%s message_id=%s lead_id=%s hop=%d working", spec.name, envelope.message_id,
                    envelope.lead_id, envelope.hop)
        work = await self.handle(envelope, self.deps)
        try:
            validate_payload(spec.output_contract, work.payload, lead_id=envelope.lead_id,
                             message_id=envelope.message_id)
        except ContractError as error:
            raise AgentCallError(spec.name, f"output broke its contract: {error}", message_id=envelope.message_id) from None
        output = _output_envelope(spec, data, envelope, work, secret=self.deps.dispatch_secret)
        await asyncio.to_thread(self.publisher.publish, AGENT_MESSAGES, output)
        duration = time.perf_counter() - started
        logger.info("agent=%s message_id=%s lead_id=%s published %s in %.2f s", spec.name, envelope.message_id,
                    envelope.lead_id, output.message_id, duration)
        return AgentResponse(agent=spec.name, message_id=envelope.message_id, lead_id=envelope.lead_id, output=output,
                             duration_s=round(duration, 4), prompt_tokens=work.prompt_tokens,
                             completion_tokens=work.completion_tokens, cost_usd=work.cost_usd)

    def _refuse(self, status_code: int, detail: str, message_id: str | None, lead_id: str | None) -> JSONResponse:
        logger.warning("agent=%s message_id=%s lead_id=%s refused with %d: %s", self.spec.name, message_id, lead_id,
                       status_code, detail)
        return JSONResponse({"detail": detail, "agent": self.spec.name, "message_id": message_id},
                            status_code=status_code)


# --- background work: the scheduler and the opt-out watcher ----------------------------------


class OptOutConsumer(Protocol):
    """What the opt-out watcher reads with: `infra.bus.GroupConsumer`, or a fake in tests."""

    def poll(self, *, timeout_s: float, max_records: int) -> list[Record]: ...

    def commit(self, record: Record) -> None: ...

    def close(self) -> None: ...


_WATCH_POLL_S = 1.0
"""How long one poll of the opt-out watcher waits; also how soon it notices it must stop."""
_WATCH_RECONNECT = Backoff(attempts=1, initial_s=1.0, max_s=60.0)
"""Pause before the watcher reconnects after a failure, doubling up to a minute."""


@dataclass
class _Heartbeat:
    """When a background loop last showed it is alive, and its last error: what /health reports."""

    period_s: float
    """How long the loop may rightly stay quiet (its poll interval)."""
    alive: Callable[[], bool] = lambda: False
    """Whether its task or thread still runs."""
    last_beat: float = field(default_factory=time.monotonic)
    last_error: str | None = None

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def failed(self, error: BaseException) -> None:
        self.last_error = f"{type(error).__name__}: {error}"[:500]

    def report(self, stale_after_s: float) -> tuple[bool, dict[str, Any]]:
        age = time.monotonic() - self.last_beat
        alive = self.alive()
        healthy = alive and age <= self.period_s + stale_after_s
        return healthy, {"status": "ok" if healthy else ("stale" if alive else "stopped"),
                         "heartbeat_age_s": round(age, 1), "last_error": self.last_error}


async def _send_scheduled(outbox: Outbox, heartbeat: _Heartbeat) -> None:
    """Send scheduled e-mails as they fall due, for as long as the service runs; no error ends it."""
    while True:
        heartbeat.beat()
        await asyncio.sleep(heartbeat.period_s)
        try:
            sent = await asyncio.to_thread(outbox.send_due, beat=heartbeat.beat)
        except Exception as error:  # the scheduler's boundary: one bad pass must not end sending for everyone
            heartbeat.failed(error)
            logger.exception("scheduler pass failed; trying again in %.0f s", heartbeat.period_s)
            continue
        heartbeat.last_error = None
        if sent:
            logger.info("sent %d scheduled e-mails", len(sent))


def _watch_opt_outs(open_consumer: Callable[[], OptOutConsumer], learn: Callable[[Record], str | None],
                    heartbeat: _Heartbeat, stop: threading.Event) -> None:
    """The opt-out watcher's thread: learn every record of send_email's OPT_OUT_TOPICS, committing a batch
    only once it is learnt, until `stop` is set; a failure reconnects after a pause, it never ends the loop."""
    failures = 0
    while not stop.is_set():
        heartbeat.beat()
        try:
            consumer = open_consumer()
            try:
                while not stop.is_set():
                    records = consumer.poll(timeout_s=_WATCH_POLL_S, max_records=200)
                    last: dict[tuple[str, int], Record] = {}
                    for record in records:
                        change = learn(record)
                        if change:
                            logger.info("opt-out watcher: %s", change)
                        last[(record.topic, record.partition)] = record
                    for record in last.values():
                        consumer.commit(record)
                    failures, heartbeat.last_error = 0, None
                    heartbeat.beat()
            finally:
                consumer.close()
        except Exception as error:  # the watcher's boundary: log, pause, reconnect
            failures += 1
            pause = _WATCH_RECONNECT.delay_s(failures)
            heartbeat.failed(error)
            logger.exception("opt-out watcher failed; reconnecting in %.0f s", pause)
            stop.wait(pause)


def create_app(settings: Settings, *, llm: Any, publisher: Publisher, registry: AgentRegistry | None = None,
               research: ResearchTools | None = None, outbox: Outbox | None = None,
               store: IdempotencyStore | None = None, send_scheduled: bool = False,
               opt_out_consumer: Callable[[], OptOutConsumer] | None = None,
               leads: LeadDirectory | None = None) -> FastAPI:
    """The agents service. `llm` is any `sdr_pipeline.llm.chat.ChatClient`; `publisher` anything with
    `publish(topic, envelope)` (the bus, or `InMemoryBus` in tests). `send_scheduled` runs the scheduler;
    `opt_out_consumer` (e.g. `send_email.opt_out_consumer`) runs the watcher that feeds the suppression list;
    `leads` tells send_email whom it may write to (default: intake's /internal door).

    Every POST must be signed with the dispatch secret (`infra.secrets.shared_secret`), and only the Host
    names in `agents_allowed_hosts` are answered; a stack beyond loopback without SDR_DISPATCH_SECRET is a
    UserError here, at start."""
    registry = registry or load_registry()
    secret = shared_secret(settings, "dispatch")
    agents_dir = settings.state_dir / "agents"
    store = store or IdempotencyStore(agents_dir / "idempotency.sqlite")
    if outbox is None and "send_email" in registry.names:
        from sdr_pipeline.agents.send_email import default_outbox

        outbox = default_outbox(settings)
    deps = AgentDeps(settings=settings, llm=llm, research=research or ResearchTools.from_settings(settings),
                     outbox=outbox, leads=leads or IntakeDirectory.from_settings(settings, secret),
                     dispatch_secret=secret)

    heartbeats: dict[str, _Heartbeat] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = watcher = None
        stop = threading.Event()
        if send_scheduled and outbox is not None:
            heartbeats["scheduler"] = beat = _Heartbeat(settings.outbox_poll_s)
            task = asyncio.create_task(_send_scheduled(outbox, beat))
            beat.alive = lambda: not task.done()
        if opt_out_consumer is not None and outbox is not None:
            from sdr_pipeline.agents.send_email import learn

            heartbeats["opt_out_watcher"] = beat = _Heartbeat(_WATCH_POLL_S)
            watcher = threading.Thread(target=_watch_opt_outs, name="agents-opt-outs", daemon=True,
                                       args=(opt_out_consumer, lambda record: learn(outbox, record), beat, stop))
            watcher.start()
            beat.alive = watcher.is_alive
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if watcher is not None:
                await asyncio.to_thread(watcher.join, 10.0)
            heartbeats.clear()

    app = FastAPI(title="sdr-pipeline agents", lifespan=lifespan,
                  description="The SDR agents; each POST takes an envelope and publishes one to agent_messages.")
    app.state.registry = registry
    app.state.deps = deps
    app.state.store = store
    # added last = outermost: a wrong Host is refused before the body is even read
    app.add_middleware(SignedRequests, secret=secret, max_age_s=settings.signature_max_age_s,
                       max_bytes=settings.request_max_bytes, guards=lambda method, _path: method == "POST",
                       service="agents")
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.agents_allowed_hosts))

    for spec in registry.agents:
        route = _AgentRoute(spec, load_handler(spec), deps=deps, publisher=publisher, store=store,
                            max_bytes=settings.request_max_bytes)
        app.add_api_route(spec.endpoint, route.respond, methods=["POST"], name=spec.name,
                          summary=spec.description, response_model=None)

    @app.get("/health")
    async def health() -> JSONResponse:
        """200 while every background loop shows a fresh heartbeat; 503 once one is stale or stopped."""
        reports = {name: beat.report(settings.outbox_stale_after_s) for name, beat in heartbeats.items()}
        healthy = all(ok for ok, _report in reports.values())
        body = {"status": "ok" if healthy else "unhealthy", "agents": list(registry.names),
                "background": {name: report for name, (_ok, report) in reports.items()}}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/agents")
    async def agents() -> list[dict[str, Any]]:
        return [spec.model_dump() for spec in registry.agents]

    return app
