"""The LLM layer: one chat client for router, agents and evals, plus the local model it talks to by default.

    from sdr_pipeline.llm import make_client
    client = make_client(settings)
    result = client.chat(messages, schema={"type": "object", ...})
    result.parsed, result.usage, result.latency_s, result.cost_usd, result.cached

Local serving (llama-server, model pulls) lives in `llm.server`, `llm.pull`, `llm.binary`
and `llm.provision`; the scripted stand-in for tests in `llm.testing`.

The `openai` package takes a second to import, so the names that need it are loaded on
first use: `sdr-pipeline llm setup`, run by every `make test`, stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sdr_pipeline.llm.cache import ResponseCache, cache_key
from sdr_pipeline.llm.chat import ChatClient, LLMResult
from sdr_pipeline.llm.cost import CostLedger, Price, Usage, price_for
from sdr_pipeline.llm.models import ModelSpec, get_model, known_models

if TYPE_CHECKING:
    from sdr_pipeline.llm.client import LLMClient, make_client
    from sdr_pipeline.llm.retry import RetryPolicy

_LAZY = {"LLMClient": "sdr_pipeline.llm.client", "make_client": "sdr_pipeline.llm.client",
         "RetryPolicy": "sdr_pipeline.llm.retry"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sdr_pipeline.llm' has no attribute {name!r}")

__all__ = [
    "ChatClient",
    "CostLedger",
    "LLMClient",
    "LLMResult",
    "ModelSpec",
    "Price",
    "ResponseCache",
    "RetryPolicy",
    "Usage",
    "cache_key",
    "get_model",
    "known_models",
    "make_client",
    "price_for",
]
