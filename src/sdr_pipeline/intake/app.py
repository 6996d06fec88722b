"""The intake service: the lead form, the JSON lead endpoint and the inbound e-mail webhook.

Everything accepted becomes an envelope on incoming_leads (the bridge moves it on to
agent_messages). Bad input is answered 4xx with a reason a person can act on and logged;
it never reaches a topic:

    GET  /                    the lead form
    POST /                    form submission -> 303 to /thanks, or the form again with errors (422)
    POST /api/leads           JSON lead -> 201 {lead_id, message_id}; a repeat -> 200 with the first ones
    POST /api/inbound-email   a prospect's reply (from, to, subject, body, in_reply_to) -> 202, unknown lead -> 404
    GET  /health              200, or 503 when the bridge is dead or stale (its heartbeat, restarts, lag)

Submitting is idempotent: the form carries a one-time token and the JSON endpoint takes an
`Idempotency-Key` header, so a double click, a refresh or a client's retry gets the lead
accepted first; and one e-mail address gets one lead per `intake_dedup_window_s`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from sdr_pipeline.contracts import (
    INCOMING_LEADS,
    Envelope,
    InboundReply,
    Lead,
    LeadSubmission,
    lead_id_from_email_message_id,
)
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.intake.bridge import BridgeMonitor, BridgeStatus, Publisher
from sdr_pipeline.intake.form import TOKEN_FIELD, render_form, render_thanks
from sdr_pipeline.intake.leads import Admission, KnownLead, LeadStore
from sdr_pipeline.request_body import BadRequest, read_body, read_json
from sdr_pipeline.settings import Settings

__all__ = ["IntakeHealth", "create_app", "field_errors"]

logger = logging.getLogger(__name__)

_FORM_TYPE = "application/x-www-form-urlencoded"
_REPLY_NAMESPACE = uuid.UUID("0b7e4c57-9f1e-4a8e-8d7c-2f5b3f0c6a11")
_IDEMPOTENCY_HEADER = "Idempotency-Key"
_MAX_KEY_CHARS = 255


class IntakeHealth(BaseModel):
    """What GET /health answers: 200 with `ok`, or 503 with `unhealthy` and the bridge's problem."""

    model_config = ConfigDict(frozen=True)

    status: Literal["ok", "unhealthy"]
    bridge: BridgeStatus | None
    """The bridge's liveness, counters and lag; None when this process runs no bridge."""


def _idempotency_key(value: str | None) -> str | None:
    """A client's key, or None; raises BadRequest for one we cannot store safely."""
    if value is None:
        return None
    if not 1 <= len(value) <= _MAX_KEY_CHARS or not value.isascii() or not value.isprintable():
        raise BadRequest(400, f"the {_IDEMPOTENCY_HEADER} header must be 1-{_MAX_KEY_CHARS} printable ASCII "
                              "characters (a UUID is a good choice)")
    return value


def _fingerprint(submission: LeadSubmission) -> str:
    """The submission's content, so one key reused for another lead is told apart from a retry."""
    return hashlib.sha256(submission.model_dump_json().encode("utf-8")).hexdigest()


async def _read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    data = await read_json(request, max_bytes=max_bytes)
    if not isinstance(data, dict):
        raise BadRequest(422, f"expected a JSON object, got {type(data).__name__}")
    return data


_FRIENDLY = {
    "missing": "this field is required",
    "string_too_short": "this field is required",
    "string_too_long": "this is too long",
    "string_type": "this must be text",
}


def field_errors(error: ValidationError) -> dict[str, str]:
    """One message per field, worded for the person filling the form."""
    errors: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "(form)"
        if field in errors:
            continue
        if item["type"] == "string_pattern_mismatch" and field in ("email", "from_address", "from"):
            message = "enter an e-mail address like name@company.com"
        else:
            message = _FRIENDLY.get(item["type"], item["msg"].removeprefix("Value error, "))
        errors[field] = message
    return errors


def _lead_envelope(submission: LeadSubmission, admission: Admission) -> Envelope:
    lead = Lead(**submission.model_dump())
    produced_by = "crm_import" if submission.lead_source == "crm_import" else "web_form"
    return Envelope(message_id=admission.message_id, lead_id=admission.lead_id, hop=0, produced_by=produced_by,
                    lead=lead)


def create_app(settings: Settings, *, publisher: Publisher, leads: LeadStore | None = None,
               bridge: BridgeMonitor | None = None) -> FastAPI:
    """The intake app; `publisher` is the bus (or `InMemoryBus` in tests), `bridge` the monitor /health reports."""
    store = leads or LeadStore(settings.state_dir / "intake" / "leads.sqlite")
    max_bytes = settings.request_max_bytes
    app = FastAPI(title="sdr-pipeline intake", description="Lead form, JSON lead endpoint, inbound e-mail webhook.")
    app.state.leads = store

    async def accept(submission: LeadSubmission, *, token: str | None) -> Admission:
        """Publish a new submission, or answer a repeat with the lead and message accepted first."""
        admission = store.admit(email=submission.email, fingerprint=_fingerprint(submission), token=token,
                                window_s=settings.intake_dedup_window_s, ttl_s=settings.intake_idempotency_ttl_s)
        if not admission.to_publish:
            logger.info("repeat submission (%s) answered with lead_id=%s message_id=%s; nothing published",
                        admission.outcome, admission.lead_id, admission.message_id)
            return admission
        envelope = _lead_envelope(submission, admission)
        try:
            await asyncio.to_thread(publisher.publish, INCOMING_LEADS, envelope)
        except InfraError:
            store.failed(admission)  # the person's retry sends this same message id again
            raise
        store.published(admission)
        store.record(envelope.lead_id, envelope.lead)
        again = " (sent again after a failed attempt)" if admission.outcome == "resend" else ""
        logger.info("accepted lead_id=%s message_id=%s from %s%s", envelope.lead_id, envelope.message_id,
                    envelope.produced_by, again)
        return admission

    def refuse(request: Request, status_code: int, detail: str, **extra: Any) -> JSONResponse:
        logger.warning("%s %s refused with %d: %s", request.method, request.url.path, status_code, detail)
        return JSONResponse({"detail": detail, **extra}, status_code=status_code)

    @app.get("/", response_class=HTMLResponse)
    async def form_page() -> HTMLResponse:
        return HTMLResponse(render_form(token=uuid.uuid4().hex))

    @app.post("/", response_model=None)
    async def form_submit(request: Request) -> Response:
        try:
            body = await read_body(request, content_type=_FORM_TYPE, max_bytes=max_bytes)
            values = {key: items[0] for key, items in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        except BadRequest as problem:
            logger.warning("form refused with %d: %s", problem.status_code, problem.detail)
            return HTMLResponse(render_form(errors={"(form)": problem.detail}, token=uuid.uuid4().hex),
                                status_code=problem.status_code)
        except UnicodeDecodeError:
            return HTMLResponse(render_form(errors={"(form)": "the form data is not UTF-8"}, token=uuid.uuid4().hex),
                                status_code=400)
        # The page's one-time token: the same page sent twice (double click, refresh) is one lead.
        token = values.pop(TOKEN_FIELD, "").strip()[:_MAX_KEY_CHARS] or None
        try:
            submission = LeadSubmission.model_validate({**values, "lead_source": "web_form"})
        except ValidationError as error:
            errors = field_errors(error)
            logger.info("form submission with errors: %s", errors)
            return HTMLResponse(render_form(values, errors, token=token or uuid.uuid4().hex), status_code=422)
        try:
            admission = await accept(submission, token=f"form:{token}" if token else None)
            if admission.outcome == "key_conflict":  # the page was edited and sent again: a submission of its own
                admission = await accept(submission, token=None)
        except InfraError as error:
            logger.warning("form lead not stored: %s", error)
            return HTMLResponse(render_form(values, {"(form)": "we could not store your request; please try again"},
                                            token=token or uuid.uuid4().hex), status_code=503)
        return RedirectResponse(f"/thanks?lead_id={admission.lead_id}", status_code=303)

    @app.get("/thanks", response_class=HTMLResponse)
    async def thanks(lead_id: str = "") -> HTMLResponse:
        return HTMLResponse(render_thanks(lead_id))

    @app.post("/api/leads", status_code=201, response_model=None)
    async def post_lead(request: Request) -> JSONResponse:
        try:
            key = _idempotency_key(request.headers.get(_IDEMPOTENCY_HEADER))
            data = await _read_json_object(request, max_bytes)
        except BadRequest as problem:
            return refuse(request, problem.status_code, problem.detail)
        try:
            submission = LeadSubmission.model_validate(data)
        except ValidationError as error:
            errors = field_errors(error)
            return refuse(request, 422, "; ".join(f"{field}: {problem}" for field, problem in errors.items()),
                          errors=[{"field": field, "problem": problem} for field, problem in errors.items()])
        try:
            admission = await accept(submission, token=f"key:{key}" if key else None)
        except InfraError as error:
            return refuse(request, 503, str(error))
        ids = {"lead_id": admission.lead_id, "message_id": admission.message_id}
        if admission.outcome == "key_conflict":
            return refuse(request, 409, f"this {_IDEMPOTENCY_HEADER} was already used for a different lead "
                                        f"(lead_id={admission.lead_id}); send a new key with each new lead")
        if admission.outcome == "same_key":
            return JSONResponse({**ids, "status": "duplicate", "detail": f"this {_IDEMPOTENCY_HEADER} was accepted "
                                 "before; nothing new was published"}, status_code=200)
        if admission.outcome == "same_email":
            return JSONResponse({**ids, "status": "duplicate", "detail": "a lead with this e-mail address was "
                                 f"accepted within the last {settings.intake_dedup_window_s:g} s "
                                 "(SDR_INTAKE_DEDUP_WINDOW_S); nothing new was published"}, status_code=200)
        return JSONResponse({**ids, "status": "accepted"}, status_code=201)

    def find_lead(reply: InboundReply) -> KnownLead | None:
        if reply.in_reply_to:
            lead_id = lead_id_from_email_message_id(reply.in_reply_to)
            if lead_id is not None:
                return store.get(lead_id)
        return store.by_email(reply.from_address)

    @app.post("/api/inbound-email", status_code=202, response_model=None)
    async def inbound_email(request: Request) -> JSONResponse:
        try:
            data = await _read_json_object(request, max_bytes)
        except BadRequest as problem:
            return refuse(request, problem.status_code, problem.detail)
        try:
            reply = InboundReply.model_validate(data)
        except ValidationError as error:
            errors = field_errors(error)
            return refuse(request, 422, "; ".join(f"{field}: {problem}" for field, problem in errors.items()))
        known = find_lead(reply)
        if known is None:
            return refuse(request, 404, f"no known lead for in_reply_to={reply.in_reply_to!r} or "
                                        f"from={reply.from_address!r}; nothing was published")
        message_id = (uuid.uuid5(_REPLY_NAMESPACE, reply.reply_message_id).hex if reply.reply_message_id
                      else uuid.uuid4().hex)
        envelope = Envelope(message_id=message_id, lead_id=known.lead_id, hop=0, produced_by="inbound_email",
                            lead=known.lead, context=reply.model_dump(mode="json"))
        try:
            await asyncio.to_thread(publisher.publish, INCOMING_LEADS, envelope)
        except InfraError as error:
            return refuse(request, 503, str(error))
        logger.info("reply for lead_id=%s accepted as message_id=%s", known.lead_id, message_id)
        return JSONResponse({"lead_id": known.lead_id, "message_id": message_id, "status": "accepted"},
                            status_code=202)

    @app.get("/health", response_model=IntakeHealth, responses={503: {"model": IntakeHealth}})
    async def health() -> JSONResponse:
        status = bridge.status() if bridge is not None else None
        healthy = status is None or status.healthy
        body = IntakeHealth(status="ok" if healthy else "unhealthy", bridge=status)
        return JSONResponse(body.model_dump(mode="json"), status_code=200 if healthy else 503)

    return app
