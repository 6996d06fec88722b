"""Reading an HTTP request body safely, for every service we serve (agents, intake).

The content type is checked first, the size is bounded while streaming (a lying or missing
Content-Length cannot make us buffer more than the limit), and JSON that does not parse is
a 400 with the parser's reason. Each problem is a `BadRequest` carrying the status code, so
a handler answers it as a 4xx, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from sdr_pipeline.exceptions import BadRequest

__all__ = ["JSON_TYPE", "parse_json", "read_body", "read_json"]

JSON_TYPE = "application/json"


async def read_body(request: Request, *, content_type: str, max_bytes: int) -> bytes:
    """The raw body, if it has `content_type` and at most `max_bytes` bytes."""
    actual = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if actual != content_type:
        raise BadRequest(415, f"send Content-Type: {content_type}, not '{actual or 'none'}'")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BadRequest(413, f"body of {declared} bytes is over the {max_bytes}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise BadRequest(413, f"body is over the {max_bytes}-byte limit")
    return bytes(body)


async def read_json(request: Request, *, max_bytes: int) -> Any:
    """The body decoded as JSON (any JSON value; callers check its shape)."""
    body = await read_body(request, content_type=JSON_TYPE, max_bytes=max_bytes)
    return parse_json(body)


def parse_json(body: bytes) -> Any:
    """`body` decoded as JSON; a BadRequest (400) if it is not JSON or nests too deep to decode."""
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest(400, f"body is not valid JSON ({error})") from None
    except RecursionError:
        raise BadRequest(400, "body nests JSON too deeply to decode; send a flat object") from None
