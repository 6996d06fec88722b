"""Token usage, prices and the cost ledger: the one place that turns tokens into dollars.

Hosted prices come from `data/prices.json` (list prices with the date they were taken);
local models come from the model table at zero cost. A model id matches the longest
price entry it starts with, so a dated snapshot prices like its family.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from importlib import resources

__all__ = ["CostLedger", "Price", "Usage", "load_prices", "price_for", "prices_as_of"]


@dataclass(frozen=True)
class Usage:
    """Tokens one or more calls used, as the endpoint reported them."""

    prompt_tokens: int = 0
    """Input tokens, the prompt and any schema instructions."""
    completion_tokens: int = 0
    """Output tokens the model generated."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> Usage:
        """The sum of two usages (a new object: Usage is immutable)."""
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


@dataclass(frozen=True)
class Price:
    """US dollars per 1,000 tokens."""

    usd_per_1k_input: float
    usd_per_1k_output: float

    def cost_usd(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.usd_per_1k_input + usage.completion_tokens * self.usd_per_1k_output) / 1000


_FREE = Price(0.0, 0.0)


def _price_file() -> dict:
    return json.loads(resources.files("sdr_pipeline.llm").joinpath("data/prices.json").read_text())


def load_prices() -> dict[str, Price]:
    """Hosted models' list prices by model id, plus every local model at zero."""
    from sdr_pipeline.llm.models import known_models  # the model table owns local prices

    prices = {name: Price(float(p["usd_per_1k_input"]), float(p["usd_per_1k_output"]))
              for name, p in _price_file()["models"].items()}
    for spec in known_models():
        prices[spec.name] = Price(spec.usd_per_1k_input, spec.usd_per_1k_output)
    return prices


def prices_as_of() -> str:
    """The date the hosted prices were taken (ISO date)."""
    return str(_price_file()["as_of"])


def price_for(model: str, *, prices: dict[str, Price] | None = None, local: bool = False) -> Price | None:
    """The price of `model`: exact id, else the longest id it starts with; None if unknown.

    `local=True` (a model we serve ourselves) is free whatever its name.
    """
    if local:
        return _FREE
    table = prices if prices is not None else load_prices()
    if model in table:
        return table[model]
    matches = [name for name in table if model.startswith(name)]
    return table[max(matches, key=len)] if matches else None


class CostLedger:
    """Running totals of calls, tokens and dollars; safe to share between threads.

    Cached answers are counted apart: they cost nothing now, and latency statistics
    should leave them out.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = Usage()
        self._spent_usd = 0.0
        self._calls = 0
        self._cached_calls = 0

    def record(self, usage: Usage, cost_usd: float, *, cached: bool) -> None:
        with self._lock:
            self._calls += 1
            if cached:
                self._cached_calls += 1
                return
            self._usage = self._usage.add(usage)
            self._spent_usd += cost_usd

    @property
    def usage(self) -> Usage:
        """Tokens of calls that reached the model (cache hits excluded)."""
        return self._usage

    @property
    def spent_usd(self) -> float:
        """Dollars of calls that reached the model (cache hits excluded)."""
        return self._spent_usd

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def cached_calls(self) -> int:
        return self._cached_calls
