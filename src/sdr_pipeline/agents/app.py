"""The agents service: one FastAPI app serving every agent in the registry.

Each registry entry becomes `POST <endpoint>`, handled by `sdr_pipeline.agents.<name>.handle`.
Every call goes the same way:

    read body (JSON, size-limited) -> replay? return the stored answer
    -> validate against the input contract (422 with the reason)
    -> handle() -> validate against the output contract
    -> publish the output envelope to agent_messages (hop + 1, produced_by = agent)
    -> store the answer -> 200

The output envelope's message id is derived from (agent, input message id), so even a
retry after a crash between publishing and storing publishes the very same message,
which downstream consumers drop as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sdr_pipeline.agents.idempotency import IdempotencyStore
from sdr_pipeline.agents.outbox import Outbox
from sdr_pipeline.agents.runtime import AgentDeps, AgentHandler, AgentWork, Publisher
from sdr_pipeline.agents.tools import ResearchTools
from sdr_pipeline.contracts import (
    AGENT_MESSAGES,
    AgentResponse,
    Envelope,
    parse_input,
    validate_payload,
)
from sdr_pipeline.exceptions import (
    AgentCallError,
    ContractError,
    InfraError,
    LLMUnavailableError,
    RegistryError,
    UserError,
)
from sdr_pipeline.registry import AgentRegistry, AgentSpec, load_registry
from sdr_pipeline.request_body import BadRequest, read_json
from sdr_pipeline.settings import Settings

__all__ = ["create_app", "load_handler", "output_message_id"]

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


def _output_envelope(spec: AgentSpec, source: dict[str, Any], envelope: Envelope, work: AgentWork) -> Envelope:
    extras = {key: value for key, value in source.items() if key not in _ENVELOPE_FIELDS}
    return Envelope(
        **extras,
        message_id=output_message_id(spec.name, envelope.message_id),
        lead_id=envelope.lead_id,
        hop=envelope.hop + 1,
        produced_by=spec.name,
        lead=envelope.lead,
        context=work.payload.model_dump(mode="json"),
        parent_message_id=envelope.message_id,
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
            async with self.store.exclusive(agent, message_id):
                stored = self.store.get(agent, message_id)
                if stored is not None:
                    logger.info("agent=%s message_id=%s lead_id=%s replay: returning the stored answer",
                                agent, message_id, lead_id)
                    answer = AgentResponse.model_validate_json(stored).model_copy(update={"replayed": True})
                    return JSONResponse(answer.model_dump(mode="json"))
                answer = await self._work(data)
                self.store.put(agent, message_id, answer.model_dump_json())
            return JSONResponse(answer.model_dump(mode="json"))
        except BadRequest as problem:
            return self._refuse(problem.status_code, problem.detail, message_id, lead_id)
        except ContractError as error:
            return self._refuse(422, str(error), message_id, lead_id)
        except AgentCallError as error:
            return self._refuse(502, str(error), message_id, lead_id)
        except (LLMUnavailableError, InfraError) as error:
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
        output = _output_envelope(spec, data, envelope, work)
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


async def _send_scheduled(outbox: Outbox, every_s: float) -> None:
    """Send scheduled e-mails as they fall due, for as long as the service runs."""
    while True:
        await asyncio.sleep(every_s)
        try:
            sent = await asyncio.to_thread(outbox.send_due)
        except InfraError as error:
            logger.warning("scheduled e-mails not sent yet: %s", error)
            continue
        if sent:
            logger.info("sent %d scheduled e-mails", len(sent))


def create_app(settings: Settings, *, llm: Any, publisher: Publisher, registry: AgentRegistry | None = None,
               research: ResearchTools | None = None, outbox: Outbox | None = None,
               store: IdempotencyStore | None = None, send_scheduled: bool = False) -> FastAPI:
    """The agents service. `llm` is any `sdr_pipeline.llm.chat.ChatClient`; `publisher` anything with
    `publish(topic, envelope)` (the bus, or `InMemoryBus` in tests)."""
    registry = registry or load_registry()
    agents_dir = settings.state_dir / "agents"
    store = store or IdempotencyStore(agents_dir / "idempotency.sqlite")
    if outbox is None and "send_email" in registry.names:
        from sdr_pipeline.agents.send_email import default_outbox

        outbox = default_outbox(settings)
    deps = AgentDeps(settings=settings, llm=llm, research=research or ResearchTools.from_settings(settings),
                     outbox=outbox)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_send_scheduled(outbox, settings.outbox_poll_s)) if (
            send_scheduled and outbox is not None) else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title="sdr-pipeline agents", lifespan=lifespan,
                  description="The SDR agents; each POST takes an envelope and publishes one to agent_messages.")
    app.state.registry = registry
    app.state.deps = deps
    app.state.store = store

    for spec in registry.agents:
        route = _AgentRoute(spec, load_handler(spec), deps=deps, publisher=publisher, store=store,
                            max_bytes=settings.request_max_bytes)
        app.add_api_route(spec.endpoint, route.respond, methods=["POST"], name=spec.name,
                          summary=spec.description, response_model=None)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "agents": list(registry.names)}

    @app.get("/agents")
    async def agents() -> list[dict[str, Any]]:
        return [spec.model_dump() for spec in registry.agents]

    return app
