"""Test helpers that sign what they send, as the routing job, the agents service and an e-mail provider do."""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from typing import Any

import httpx

from sdr_pipeline.contracts import Envelope, parse_input
from sdr_pipeline.contracts.signing import (
    PRODUCER_SIGNATURE_FIELD,
    SIGNATURE_HEADER,
    producer_signature,
    request_headers,
    sign,
)
from sdr_pipeline.exceptions import ContractError
from sdr_pipeline.infra.secrets import shared_secret
from sdr_pipeline.settings import Settings

AGENTS_BASE = "http://127.0.0.1"
"""A Host the agents service answers by default (agents_allowed_hosts)."""


class SignedAuth(httpx.Auth):
    """Signs every request (method, path, timestamp, body) with the stack's dispatch secret, as the job does."""

    requires_request_body = True

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(request_headers(request.content, self.secret, url=str(request.url),
                                               method=request.method))
        yield request


def dispatch_secret(settings: Settings) -> str:
    return shared_secret(settings, "dispatch")


def agents_client(app: Any, settings: Settings, **options: Any) -> httpx.AsyncClient:
    """An in-process client for the agents app whose every request is signed like a dispatch."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=AGENTS_BASE,
                             auth=SignedAuth(dispatch_secret(settings)), **options)


def signed_by_agent(envelope: Envelope, key: Settings | str) -> Envelope:
    """`envelope` (drafted e-mails) as the agents service publishes it: with the producer signature send_email
    checks, made over the context as the drafting agent's output model writes it. `key` is the stack's settings
    or its dispatch secret. A draft its contract refuses is returned as it is (send_email refuses it first)."""
    try:
        context = parse_input("drafted_emails", envelope).context.model_dump(mode="json")
    except ContractError:
        return envelope
    secret = key if isinstance(key, str) else dispatch_secret(key)
    signature = producer_signature(secret, message_id=envelope.message_id, lead_id=envelope.lead_id,
                                   produced_by=envelope.produced_by, context=context)
    return envelope.model_copy(update={PRODUCER_SIGNATURE_FIELD: signature})


async def post_draft(client: httpx.AsyncClient, envelope: Envelope) -> httpx.Response:
    """POST drafted e-mails to send_email through an `agents_client`, signed as its drafting agent would sign them."""
    assert isinstance(client.auth, SignedAuth), "use agents_client(...), which signs like the job"
    signed = signed_by_agent(envelope, client.auth.secret)
    return await client.post("/agents/send_email", content=signed.to_json(),
                             headers={"content-type": "application/json"})


def webhook_post(payload: Any, settings: Settings, *, secret: str | None = None, at: float | None = None,
                 raw: bytes | None = None) -> dict[str, Any]:
    """Keyword arguments for client.post: `payload` as JSON (or the `raw` bytes), signed as the e-mail provider
    signs the webhook (with the stack's webhook secret unless `secret` is given, at `at` or now)."""
    body = raw if raw is not None else json.dumps(payload).encode("utf-8")
    key = secret if secret is not None else shared_secret(settings, "inbound_webhook")
    return {"content": body, "headers": {"content-type": "application/json",
                                         SIGNATURE_HEADER: sign(body, key, int(time.time() if at is None else at))}}
