"""The intake service: the lead form, the JSON lead endpoint and the inbound e-mail webhook.

Everything accepted becomes an envelope on incoming_leads (the bridge moves it on to
agent_messages). Bad input is answered 4xx with a reason a person can act on and logged;
it never reaches a topic:

    GET  /                    the lead form
    POST /                    form submission -> 303 to /thanks, or the form again with errors (422)
    POST /api/leads           JSON lead -> 201 {lead_id, message_id}; a repeat -> 200 with the first ones
    POST /api/inbound-email   a prospect's reply (from, to, subject, body, in_reply_to), signed by the e-mail
                              provider -> 202; unsigned -> 401; unknown lead -> 404
    GET  /internal/leads/ID   the addresses send_email may write to for a lead (signed callers only) -> 200 / 404
    GET  /health              200, or 503 when the bridge is dead or stale (its heartbeat, restarts, lag)

The public doors take only the fields they know (an unknown field is a 422) and are rate limited
per client address and per e-mail address (429). The webhook must carry `X-SDR-Signature` made
with `SDR_INBOUND_WEBHOOK_SECRET`; a reply's In-Reply-To finds its lead only when it is one of our
signed Message-IDs, else the reply must come from an address intake already holds. A colleague at
the lead's own domain answering one of our e-mails becomes an address send_email may answer.

Submitting is idempotent: the form carries a one-time token and the JSON endpoint takes an
`Idempotency-Key` header, so a double click, a refresh or a client's retry gets the lead
accepted first; and one e-mail address gets one lead per `intake_dedup_window_s`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
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
    thread_from_email_message_id,
)
from sdr_pipeline.contracts.signing import SIGNATURE_HEADER, verify
from sdr_pipeline.exceptions import BadRequest, InfraError
from sdr_pipeline.infra.bus import Publisher
from sdr_pipeline.infra.secrets import shared_secret
from sdr_pipeline.intake.bridge import BridgeMonitor, BridgeStatus
from sdr_pipeline.intake.form import TOKEN_FIELD, render_form, render_thanks
from sdr_pipeline.intake.leads import Admission, KnownLead, LeadStore
from sdr_pipeline.intake.rate_limits import RateLimits, Refusal
from sdr_pipeline.request_body import JSON_TYPE, parse_json, read_body, read_json
from sdr_pipeline.request_signing import SignedRequests
from sdr_pipeline.settings import Settings

__all__ = ["IntakeHealth", "create_app", "field_errors"]

logger = logging.getLogger(__name__)

_FORM_TYPE = "application/x-www-form-urlencoded"
_REPLY_NAMESPACE = uuid.UUID("0b7e4c57-9f1e-4a8e-8d7c-2f5b3f0c6a11")
_IDEMPOTENCY_HEADER = "Idempotency-Key"
_MAX_KEY_CHARS = 255
_INTERNAL = "/internal/"
_LEAD_ID = re.compile(r"^[\w.:@+-]{1,200}$")


class _SubmittedLead(LeadSubmission):
    """A lead as the public form and JSON endpoint take it: only the fields the contract names."""

    model_config = ConfigDict(extra="forbid")


class _WebhookReply(InboundReply):
    """A reply as the webhook takes it: only the fields the contract names (or their aliases)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


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
    "extra_forbidden": "this field is not accepted here; send only the documented fields",
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


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _domain(address: str | None) -> str:
    return address.rsplit("@", 1)[-1].strip().lower() if address and "@" in address else ""


def _lead_envelope(submission: LeadSubmission, admission: Admission) -> Envelope:
    lead = Lead(**submission.model_dump())
    produced_by = "crm_import" if submission.lead_source == "crm_import" else "web_form"
    return Envelope(message_id=admission.message_id, lead_id=admission.lead_id, hop=0, produced_by=produced_by,
                    lead=lead)


def create_app(settings: Settings, *, publisher: Publisher, leads: LeadStore | None = None,
               bridge: BridgeMonitor | None = None, limits: RateLimits | None = None) -> FastAPI:
    """The intake app; `publisher` is the bus (or `InMemoryBus` in tests), `bridge` the monitor /health reports,
    `limits` the rate limits (default: from settings). A stack beyond loopback without SDR_DISPATCH_SECRET or
    SDR_INBOUND_WEBHOOK_SECRET is a UserError here, at start."""
    store = leads or LeadStore(settings.state_dir / "intake" / "leads.sqlite")
    max_bytes = settings.request_max_bytes
    internal_secret = shared_secret(settings, "dispatch")
    webhook_secret = shared_secret(settings, "inbound_webhook")
    rate = limits or RateLimits.from_settings(settings)
    app = FastAPI(title="sdr-pipeline intake", description="Lead form, JSON lead endpoint, inbound e-mail webhook.")
    app.state.leads = store
    app.add_middleware(SignedRequests, secret=internal_secret, max_age_s=settings.signature_max_age_s,
                       max_bytes=max_bytes, guards=lambda _method, path: path.startswith(_INTERNAL),
                       service="intake")

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
        logger.warning("%s %s from %s refused with %d: %s", request.method, request.url.path, _client_ip(request),
                       status_code, detail)
        return JSONResponse({"detail": detail, **extra}, status_code=status_code)

    def too_many(request: Request, refusal: Refusal) -> JSONResponse:
        response = refuse(request, 429, refusal.detail)
        response.headers["Retry-After"] = str(refusal.retry_after_s)
        return response

    def form_too_many(refusal: Refusal, values: dict[str, str] | None = None) -> HTMLResponse:
        logger.warning("form refused with 429: %s", refusal.detail)
        page = render_form(values, {"(form)": f"too many requests; please try again in {refusal.retry_after_s} s"},
                           token=uuid.uuid4().hex)
        return HTMLResponse(page, status_code=429, headers={"Retry-After": str(refusal.retry_after_s)})

    @app.get("/", response_class=HTMLResponse)
    async def form_page() -> HTMLResponse:
        return HTMLResponse(render_form(token=uuid.uuid4().hex))

    @app.post("/", response_model=None)
    async def form_submit(request: Request) -> Response:
        refusal = rate.client("form", _client_ip(request))
        if refusal is not None:
            return form_too_many(refusal)
        try:
            body = await read_body(request, content_type=_FORM_TYPE, max_bytes=max_bytes)
            values = {key: items[0] for key, items in  # strict: a %FF in a field is refused, not turned into "�"
                      parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict").items()}
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
            submission = _SubmittedLead.model_validate({**values, "lead_source": "web_form"})
        except ValidationError as error:
            errors = field_errors(error)
            logger.info("form submission with errors: %s", errors)
            return HTMLResponse(render_form(values, errors, token=token or uuid.uuid4().hex), status_code=422)
        refusal = rate.address("form", submission.email)
        if refusal is not None:
            return form_too_many(refusal, values)
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
        refusal = rate.client("leads", _client_ip(request))
        if refusal is not None:
            return too_many(request, refusal)
        try:
            key = _idempotency_key(request.headers.get(_IDEMPOTENCY_HEADER))
            data = await _read_json_object(request, max_bytes)
        except BadRequest as problem:
            return refuse(request, problem.status_code, problem.detail)
        try:
            submission = _SubmittedLead.model_validate(data)
        except ValidationError as error:
            errors = field_errors(error)
            return refuse(request, 422, "; ".join(f"{field}: {problem}" for field, problem in errors.items()),
                          errors=[{"field": field, "problem": problem} for field, problem in errors.items()])
        refusal = rate.address("leads", submission.email)
        if refusal is not None:
            return too_many(request, refusal)
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
        """The reply's lead by a verified In-Reply-To (one of our signed Message-IDs), else by its sender's
        address; a colleague at the lead's domain answering our e-mail becomes an address we may answer."""
        token = thread_from_email_message_id(reply.in_reply_to, internal_secret) if reply.in_reply_to else None
        known = store.by_thread(token) if token else None
        if reply.in_reply_to and known is None:
            logger.info("reply from %s: in_reply_to %r is not one of our signed Message-IDs; finding the lead by "
                        "its sender", reply.from_address, reply.in_reply_to[:120])
        if known is None:
            return store.by_email(reply.from_address)
        sender, own = reply.from_address.strip().lower(), (known.lead.email or "").strip().lower()
        if sender != own and _domain(sender) == _domain(own) and store.add_reply_address(known.lead_id, sender):
            logger.info("lead_id=%s: %s answered one of our e-mails and may be answered", known.lead_id, sender)
        return known

    @app.post("/api/inbound-email", status_code=202, response_model=None)
    async def inbound_email(request: Request) -> JSONResponse:
        refusal = rate.client("inbound-email", _client_ip(request))
        if refusal is not None:
            return too_many(request, refusal)
        try:
            body = await read_body(request, content_type=JSON_TYPE, max_bytes=max_bytes)
        except BadRequest as problem:
            return refuse(request, problem.status_code, problem.detail)
        reason = verify(body, request.headers.get(SIGNATURE_HEADER), webhook_secret,
                        max_age_s=settings.signature_max_age_s)
        if reason is not None:
            return refuse(request, 401, f"webhook signature refused: {reason}",
                          fix="the e-mail provider must sign each post with SDR_INBOUND_WEBHOOK_SECRET "
                              f"({SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.' + body>)")
        try:
            data = parse_json(body)
            if not isinstance(data, dict):
                raise BadRequest(422, f"expected a JSON object, got {type(data).__name__}")
        except BadRequest as problem:
            return refuse(request, problem.status_code, problem.detail)
        try:
            reply = _WebhookReply.model_validate(data)
        except ValidationError as error:
            errors = field_errors(error)
            return refuse(request, 422, "; ".join(f"{field}: {problem}" for field, problem in errors.items()))
        refusal = rate.address("inbound-email", reply.from_address)
        if refusal is not None:
            return too_many(request, refusal)
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

    @app.get(_INTERNAL + "leads/{lead_id}", response_model=None)
    async def lead_addresses(lead_id: str) -> JSONResponse:
        """The addresses send_email may write to for `lead_id` (the signature is checked before this runs)."""
        if not _LEAD_ID.match(lead_id):
            return JSONResponse({"detail": "a lead id is 1-200 letters, digits and . _ : @ + -"}, status_code=422)
        found = await asyncio.to_thread(store.addresses, lead_id)
        if found is None:
            return JSONResponse({"detail": f"intake has never seen lead {lead_id}"}, status_code=404)
        return JSONResponse(found.model_dump(mode="json"))

    @app.get("/health", response_model=IntakeHealth, responses={503: {"model": IntakeHealth}})
    async def health() -> JSONResponse:
        status = bridge.status() if bridge is not None else None
        healthy = status is None or status.healthy
        body = IntakeHealth(status="ok" if healthy else "unhealthy", bridge=status)
        return JSONResponse(body.model_dump(mode="json"), status_code=200 if healthy else 503)

    return app
