"""Refusing unsigned internal requests, for every service we serve (the agents, intake's /internal door).

`SignedRequests` is an ASGI middleware: a request it guards (chosen by method and path) must carry
a valid `X-SDR-Signature` over its method, raw path, timestamp and body (`contracts.signing`), or it
is answered 401 with the reason as JSON and never reaches a route. The body is read once, bounded
(413 above the limit, before anything is parsed), and handed on to the app unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sdr_pipeline.contracts.signing import SIGNATURE_HEADER, verify_request

__all__ = ["SignedRequests"]

logger = logging.getLogger(__name__)

Guard = Callable[[str, str], bool]
"""(method, path) -> whether the request must be signed."""


async def _read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole body, or None once it grows past `max_bytes`."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)  # the client went away: the app sees an empty body and the disconnect
        body.extend(message.get("body", b""))
        if len(body) > max_bytes:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then whatever the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class SignedRequests:
    """Pass a guarded request on only if its signature verifies under `secret`; answer 401 otherwise."""

    def __init__(self, app: ASGIApp, *, secret: str, max_age_s: float, max_bytes: int, guards: Guard,
                 service: str) -> None:
        if not secret:
            raise ValueError(f"{service}: a signing secret is required (see SDR_DISPATCH_SECRET)")
        self.app = app
        self.secret = secret
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.guards = guards
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.guards(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        header = Headers(scope=scope).get(SIGNATURE_HEADER)
        if header is None:
            reason = verify_request(b"", None, self.secret, method=method, path=path, max_age_s=self.max_age_s)
        else:
            body = await _read_body(receive, self.max_bytes)
            if body is None:
                await self._refuse(scope, send, 413, f"body is over the {self.max_bytes}-byte limit")
                return
            reason = verify_request(body, header, self.secret, method=method, path=path, max_age_s=self.max_age_s)
            if reason is None:
                await self.app(scope, _replay(body, receive), send)
                return
        await self._refuse(scope, send, 401, f"unsigned or badly signed request: {reason}")

    async def _refuse(self, scope: Scope, send: Send, status_code: int, detail: str) -> None:
        client = scope.get("client")
        logger.warning("%s: %s %s from %s refused with %d: %s", self.service, scope["method"], scope["path"],
                       client[0] if client else "?", status_code, detail)
        fix = ("sign it with the shared SDR_DISPATCH_SECRET (sdr_pipeline.contracts.signing.request_headers), "
               "from a clock within SDR_SIGNATURE_MAX_AGE_S") if status_code == 401 else None
        response = JSONResponse({"detail": detail, **({"fix": fix} if fix else {})}, status_code=status_code)
        await response(scope, self._drain(), send)

    @staticmethod
    def _drain() -> Receive:
        async def nothing() -> Message:
            return {"type": "http.disconnect"}

        return nothing
