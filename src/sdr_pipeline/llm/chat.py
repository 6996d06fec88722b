"""What every chat client returns and promises: `LLMResult` and the `ChatClient` protocol.

The router, the agents and the evaluation lab depend on this protocol only, so the
real client (`LLMClient`) and the scripted one (`testing.ScriptedLLM`) are interchangeable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sdr_pipeline.llm.cost import Usage

__all__ = ["ChatClient", "LLMResult", "TokenLogprob", "decode_content", "response_format"]


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its log-probability and the strongest alternatives the endpoint reported."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()
    """(token, logprob) of the most likely tokens at this position, the chosen one included."""


@dataclass(frozen=True)
class LLMResult:
    """One chat completion and what it cost."""

    content: str
    """The assistant message text as returned."""
    parsed: Any | None
    """`content` decoded as JSON when a schema was given and it decodes; else None. Callers validate."""
    usage: Usage
    latency_s: float
    """Wall time of the call; for a cache hit, the time to read the cache."""
    cost_usd: float
    """List price of `usage` for `model` (zero for local models). A cache hit did not spend it again."""
    model: str
    """Model id the endpoint reported (or the one requested, if it reported none)."""
    cached: bool
    """True if this came from the response cache: leave it out of latency statistics."""
    logprobs: tuple[TokenLogprob, ...] = ()
    """Per-token log-probabilities of `content`, when they were asked for (`top_logprobs`) and returned."""


@runtime_checkable
class ChatClient(Protocol):
    """A chat model behind an OpenAI-compatible API, or a stand-in for tests."""

    def chat(self, messages: list[dict[str, str]], *, schema: dict | None = None, schema_name: str = "answer",
             temperature: float = 0.0, max_tokens: int = 512, seed: int | None = None,
             top_logprobs: int = 0) -> LLMResult:
        """One completion; `schema` constrains the output to JSON matching it; `top_logprobs` > 0 asks
        for per-token log-probabilities with that many alternatives."""
        ...

    async def achat(self, messages: list[dict[str, str]], *, schema: dict | None = None, schema_name: str = "answer",
                    temperature: float = 0.0, max_tokens: int = 512, seed: int | None = None,
                    top_logprobs: int = 0) -> LLMResult:
        """The same as `chat`, without blocking the event loop."""
        ...


def response_format(schema: dict | None, schema_name: str) -> dict | None:
    """The OpenAI `response_format` for a JSON-schema constrained answer (llama-server accepts it too)."""
    if schema is None:
        return None
    return {"type": "json_schema", "json_schema": {"name": schema_name, "schema": schema, "strict": True}}


def decode_content(content: str, schema: dict | None) -> Any | None:
    """The JSON value of a constrained answer, or None (no schema, or text that is not JSON).

    We do not raise here: an undecodable answer is the caller's decision to make (the router
    turns it into a `RouterDecisionError` carrying the raw output).
    """
    if schema is None:
        return None
    try:
        return json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return None
