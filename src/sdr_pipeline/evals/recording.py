"""`RecordingClient`: a `ChatClient` wrapper that keeps every request and answer of one routing decision.

The router reports tokens, cost and the raw answer on a `RoutingDecision`, but a decision
that fails (`RouterDecisionError`) carries no usage at all. The lab wraps the client once
per example so that failed decisions are still counted, and the playground shows the exact
messages the model saw. One wrapper serves one decision, on one thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sdr_pipeline.llm.cost import Usage

if TYPE_CHECKING:
    from sdr_pipeline.llm import ChatClient, LLMResult

__all__ = ["RecordedCall", "RecordingClient"]


@dataclass(frozen=True)
class RecordedCall:
    """One model call: what was sent and what came back."""

    messages: list[dict[str, str]]
    """The chat messages exactly as sent (rendered prompt, plus re-asks)."""
    result: LLMResult


@dataclass
class RecordingClient:
    """Forwards to `inner` and records each call; `usage`, `cost_usd`, `cached` sum them up."""

    inner: ChatClient
    calls: list[RecordedCall] = field(default_factory=list)

    def chat(self, messages: list[dict[str, str]], *, schema: dict | None = None, schema_name: str = "answer",
             temperature: float = 0.0, max_tokens: int = 512, seed: int | None = None,
             top_logprobs: int = 0) -> LLMResult:
        result = self.inner.chat(messages, schema=schema, schema_name=schema_name, temperature=temperature,
                                 max_tokens=max_tokens, seed=seed, top_logprobs=top_logprobs)
        self.calls.append(RecordedCall(list(messages), result))
        return result

    async def achat(self, messages: list[dict[str, str]], *, schema: dict | None = None, schema_name: str = "answer",
                    temperature: float = 0.0, max_tokens: int = 512, seed: int | None = None,
                    top_logprobs: int = 0) -> LLMResult:
        result = await self.inner.achat(messages, schema=schema, schema_name=schema_name, temperature=temperature,
                                        max_tokens=max_tokens, seed=seed, top_logprobs=top_logprobs)
        self.calls.append(RecordedCall(list(messages), result))
        return result

    @property
    def usage(self) -> Usage:
        total = Usage()
        for call in self.calls:
            total = total.add(call.result.usage)
        return total

    @property
    def cost_usd(self) -> float:
        return sum(call.result.cost_usd for call in self.calls)

    @property
    def cached(self) -> bool:
        """True when there were calls and every one came from the response cache."""
        return bool(self.calls) and all(call.result.cached for call in self.calls)

    @property
    def model(self) -> str | None:
        return self.calls[-1].result.model if self.calls else None
