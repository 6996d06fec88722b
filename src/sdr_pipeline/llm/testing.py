"""`ScriptedLLM`: a `ChatClient` that answers from a script, for tests and notebook dry runs.

    llm = ScriptedLLM([{"agent": "lead_scoring"}, "plain text", LLMUnavailableError("x", "down")])

Each call takes the next entry: a dict (or list) is sent back as its JSON text, a str as
is, an `LLMResult` exactly as given (to script log-probabilities), an exception instance
is raised (to script failures). Every call is recorded in
`.calls`. Running out of script is a bug in the test, so it fails loudly with an
`AssertionError` that production error handlers do not swallow.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from sdr_pipeline.llm.chat import LLMResult, decode_content
from sdr_pipeline.llm.cost import Usage

__all__ = ["ScriptedCall", "ScriptedLLM"]

_CHARS_PER_TOKEN = 4
"""Rough token estimate for scripted usage, so budget code sees plausible numbers."""


@dataclass(frozen=True)
class ScriptedCall:
    """What one call asked for."""

    messages: list[dict[str, str]]
    schema: dict | None
    schema_name: str
    temperature: float
    max_tokens: int
    seed: int | None


class ScriptedLLM:
    """Answers calls in order from a list of responses and records them."""

    def __init__(self, responses: Iterable[str | dict | list | LLMResult | BaseException], *,
                 model: str = "scripted") -> None:
        self._script: deque[str | dict | list | LLMResult | BaseException] = deque(responses)
        self._lock = threading.Lock()
        self.model = model
        self.calls: list[ScriptedCall] = []

    @property
    def remaining(self) -> int:
        """Responses not used yet."""
        return len(self._script)

    def chat(self, messages: list[dict[str, str]], *, schema: dict | None = None, schema_name: str = "answer",
             temperature: float = 0.0, max_tokens: int = 512, seed: int | None = None,
             top_logprobs: int = 0) -> LLMResult:
        with self._lock:
            self.calls.append(ScriptedCall(list(messages), schema, schema_name, temperature, max_tokens, seed))
            if not self._script:
                last = messages[-1].get("content", "")[:120] if messages else ""
                raise AssertionError(
                    f"ScriptedLLM ran out of responses at call {len(self.calls)} "
                    f"(the script had {len(self.calls) - 1}); last message: {last!r}"
                )
            entry = self._script.popleft()
        if isinstance(entry, BaseException):
            raise entry
        if isinstance(entry, LLMResult):
            return entry
        content = entry if isinstance(entry, str) else json.dumps(entry)
        prompt_chars = sum(len(m.get("content", "")) for m in messages)
        usage = Usage(max(1, prompt_chars // _CHARS_PER_TOKEN), max(1, len(content) // _CHARS_PER_TOKEN))
        return LLMResult(content=content, parsed=decode_content(content, schema), usage=usage, latency_s=0.0,
                         cost_usd=0.0, model=self.model, cached=False)

    async def achat(self, messages: list[dict[str, str]], *, schema: dict | None = None, schema_name: str = "answer",
                    temperature: float = 0.0, max_tokens: int = 512, seed: int | None = None,
                    top_logprobs: int = 0) -> LLMResult:
        return self.chat(messages, schema=schema, schema_name=schema_name, temperature=temperature,
                         max_tokens=max_tokens, seed=seed, top_logprobs=top_logprobs)
