"""HMAC-SHA256 signatures: the one mechanism behind every boundary the pipeline authenticates.

    sign(body, secret, timestamp)      -> "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.' + body>"
    verify(body, header, secret, ...)  -> None when valid, else the reason it is not

The header is the common webhook format (a timestamp, then a versioned hex HMAC over the
timestamp and the body), so an e-mail provider or relay can produce it. `scope` binds a
signature to one use (an internal request's method and path, a Message-ID, a producer), so a
signature made for one door never opens another. Comparisons are constant-time; a timestamp
further than `max_age_s` from now, either way, is refused as a replay. Who signs what:

- the routing job signs each dispatch (`request_headers`) and the agents service refuses an
  unsigned one; send_email signs its lookup at intake's `/internal` door the same way;
- the inbound e-mail webhook carries the provider's signature (its own secret, no scope);
- our e-mails' Message-IDs carry an HMAC (`contracts.payloads.email_message_id`), so a reply's
  In-Reply-To is either ours or ignored;
- the agents service signs what its agents write (`producer_signature`), so send_email sends
  only e-mails an agent drafted, never ones written straight to a topic;
- a reviewer's verdict (`contracts.review`) is a `digest` over the message id and the agent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "PRODUCER_SIGNATURE_FIELD",
    "SIGNATURE_HEADER",
    "digest",
    "matches",
    "producer_signature",
    "request_headers",
    "request_scope",
    "sign",
    "verify",
    "verify_request",
]

SIGNATURE_HEADER = "X-SDR-Signature"
"""The HTTP header carrying `sign`'s value."""
PRODUCER_SIGNATURE_FIELD = "producer_signature"
"""The envelope field in which the agents service signs what its agents wrote."""

_VERSION = "v1"
_MAX_HEADER_CHARS = 1000
_FORMAT = "t=<unix seconds>,v1=<hex HMAC-SHA256>"


def digest(secret: str, message: bytes) -> str:
    """Hex HMAC-SHA256 of `message` under `secret`."""
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two signatures (any text: non-ASCII simply does not match)."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def _signed_bytes(body: bytes, timestamp: int, scope: str) -> bytes:
    prefix = f"{timestamp}.{scope}\n" if scope else f"{timestamp}."
    return prefix.encode("utf-8") + body


def sign(body: bytes, secret: str, timestamp: int, *, scope: str = "") -> str:
    """The signature header value for `body` at `timestamp` (unix seconds), bound to `scope` if given."""
    if not secret:
        raise ValueError("cannot sign with an empty secret")
    return f"t={int(timestamp)},{_VERSION}={digest(secret, _signed_bytes(body, int(timestamp), scope))}"


def _parse(header: str) -> tuple[int, list[str]] | str:
    """(timestamp, candidate signatures) of a header value, or why it cannot be read."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, separator, value = part.strip().partition("=")
        if not separator:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return f"its timestamp t={value[:20]!r} is not a whole number of unix seconds"
        elif key == _VERSION:
            candidates.append(value)
    if timestamp is None or not candidates:
        return f"it is not of the form {_FORMAT}"
    return timestamp, candidates


def verify(body: bytes, header: str | None, secret: str, *, max_age_s: float, scope: str = "",
           now: float | None = None) -> str | None:
    """None if `header` is a valid signature of `body` (and `scope`) made within `max_age_s` of now,
    else the reason, worded for the caller. Several `v1=` values are allowed (a key being rotated)."""
    if not secret:
        return "no secret is configured here to check signatures with"
    if not header:
        return f"the {SIGNATURE_HEADER} header is missing: sign the request ({_FORMAT})"
    if len(header) > _MAX_HEADER_CHARS:
        return f"the {SIGNATURE_HEADER} header is over {_MAX_HEADER_CHARS} characters"
    parsed = _parse(header)
    if isinstance(parsed, str):
        return f"the {SIGNATURE_HEADER} header cannot be read: {parsed}"
    timestamp, candidates = parsed
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > max_age_s:
        when = f"{age:.0f} s ago" if age > 0 else f"{-age:.0f} s in the future"
        return (f"the signature was made {when}, outside the {max_age_s:g} s window: a replayed request, "
                "or a clock out of sync (check NTP on both machines)")
    expected = digest(secret, _signed_bytes(body, timestamp, scope))
    if not any(matches(expected, candidate) for candidate in candidates):
        return "the signature does not match: a different secret, or the body changed after it was signed"
    return None


# --- internal requests: bound to their method and path ----------------------------------------


def request_scope(method: str, path: str) -> str:
    """What an internal request's signature is bound to, so it cannot be replayed at another door."""
    return f"{method.upper()} {path or '/'}"


def request_headers(body: bytes, secret: str, *, url: str, method: str = "POST", now: float | None = None
                    ) -> dict[str, str]:
    """The headers that sign one internal request (a dispatch to an agent, a lookup at intake).

    `url` is the URL as sent (percent-encoded); only its path is signed. Call it for each attempt,
    so a retry carries a fresh timestamp."""
    timestamp = int(time.time() if now is None else now)
    scope = request_scope(method, urlsplit(url).path)
    return {SIGNATURE_HEADER: sign(body, secret, timestamp, scope=scope)}


def verify_request(body: bytes, header: str | None, secret: str, *, method: str, path: str, max_age_s: float,
                   now: float | None = None) -> str | None:
    """`verify` for an internal request arriving at `method` `path` (the raw, percent-encoded path)."""
    return verify(body, header, secret, max_age_s=max_age_s, scope=request_scope(method, path), now=now)


# --- what an agent wrote ------------------------------------------------------------------------


def producer_signature(secret: str, *, message_id: str, lead_id: str, produced_by: str, context: Any) -> str:
    """Hex HMAC of an envelope's identity and context (canonical JSON), made by the agents service for
    each envelope its agents publish: no timestamp, so a replayed publish is byte-for-byte the same."""
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return digest(secret, f"producer\n{message_id}\n{lead_id}\n{produced_by}\n{canonical}".encode())
