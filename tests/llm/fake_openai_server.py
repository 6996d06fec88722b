"""A small local HTTP server speaking just enough of the OpenAI chat API to fail on purpose.

Imported by tests/llm/conftest.py and the client tests (this folder is on sys.path: no __init__.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sdr_pipeline.llm import RetryPolicy

FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05, jitter_s=0.01)


@dataclass
class Reply:
    """One scripted answer of the fake endpoint."""

    status: int = 200
    content: str = '{"answer": "ok"}'
    prompt_tokens: int = 12
    completion_tokens: int = 5
    delay_s: float = 0.0
    body: dict | None = None
    """Raw JSON body to send instead of a chat completion (for error bodies)."""
    logprobs: list[tuple[str, float]] | None = None
    """Per-token (token, logprob) to return in the OpenAI `logprobs.content` shape."""


@dataclass
class FakeEndpoint:
    url: str
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[dict] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)


class FakeHandler(BaseHTTPRequestHandler):
    endpoint: FakeEndpoint

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("content-length") or 0)
        self.endpoint.requests.append(json.loads(self.rfile.read(length) or b"{}"))
        self.endpoint.headers.append(dict(self.headers))
        reply = self.endpoint.replies.popleft() if self.endpoint.replies else Reply()
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.body is not None:
            payload = reply.body
        elif reply.status == 200:
            payload = {
                "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": self.endpoint.requests[-1].get("model", "fake"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": reply.content},
                             **({"logprobs": {"content": [
                                 {"token": token, "logprob": logprob, "bytes": None,
                                  "top_logprobs": [{"token": token, "logprob": logprob, "bytes": None}]}
                                 for token, logprob in reply.logprobs]}} if reply.logprobs else {})}],
                "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                          "total_tokens": reply.prompt_tokens + reply.completion_tokens},
            }
        else:
            payload = {"error": {"message": f"failing on purpose with {reply.status}", "type": "server_error"}}
        data = json.dumps(payload).encode()
        try:
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
        pass




def start_fake_endpoint() -> tuple[FakeEndpoint, ThreadingHTTPServer]:
    """Serve a fresh FakeEndpoint on a free port in a daemon thread."""
    endpoint = FakeEndpoint(url="")
    handler = type("BoundHandler", (FakeHandler,), {"endpoint": endpoint})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return endpoint, server
