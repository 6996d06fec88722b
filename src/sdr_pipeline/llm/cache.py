"""On-disk response cache (SQLite) so repeated evaluation runs do not pay for the same call twice.

The key is a sha256 over everything that shapes the answer: provider, which endpoint
(`local` for our own llama-server whatever its port, else the base URL), model,
messages, schema, temperature, max_tokens and seed. Each call opens its own short
connection (WAL mode), so threads and processes may share one file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from sdr_pipeline.llm.chat import LLMResult, TokenLogprob
from sdr_pipeline.llm.cost import Usage

__all__ = ["ResponseCache", "cache_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL
)
"""


def cache_key(*, provider: str, endpoint: str, model: str, messages: list[dict[str, str]], schema: dict | None,
              temperature: float, max_tokens: int, seed: int | None, top_logprobs: int = 0) -> str:
    """sha256 of the canonical JSON of every input that shapes the answer."""
    material = {"provider": provider, "endpoint": endpoint, "model": model, "messages": messages, "schema": schema,
                "temperature": temperature, "max_tokens": max_tokens, "seed": seed}
    if top_logprobs:  # keys of calls without log-probabilities stay what they were
        material["top_logprobs"] = top_logprobs
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    """Stored answers by key; a hit comes back as the same result with `cached=True`."""

    def __init__(self, path: Path, *, timeout_s: float = 30.0) -> None:
        self.path = path
        self._timeout_s = timeout_s
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection, connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=self._timeout_s)

    def get(self, key: str) -> LLMResult | None:
        started = time.perf_counter()
        with closing(self._connect()) as connection:
            row = connection.execute("SELECT payload FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        stored = json.loads(row[0])
        return LLMResult(
            content=stored["content"], parsed=stored["parsed"],
            usage=Usage(stored["prompt_tokens"], stored["completion_tokens"]),
            latency_s=time.perf_counter() - started, cost_usd=stored["cost_usd"], model=stored["model"], cached=True,
            logprobs=tuple(TokenLogprob(token, logprob, tuple((t, lp) for t, lp in top))
                           for token, logprob, top in stored.get("logprobs", [])),
        )

    def put(self, key: str, result: LLMResult) -> None:
        payload = json.dumps({
            "content": result.content, "parsed": result.parsed, "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens, "cost_usd": result.cost_usd, "model": result.model,
            "latency_s": result.latency_s,
            "logprobs": [[item.token, item.logprob, [list(alt) for alt in item.top]] for item in result.logprobs],
        })
        with closing(self._connect()) as connection, connection:
            connection.execute("INSERT OR REPLACE INTO responses (key, model, created_at, payload) VALUES (?, ?, ?, ?)",
                               (key, result.model, time.time(), payload))

    def __len__(self) -> int:
        with closing(self._connect()) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self) -> int:
        """Delete every stored answer; returns how many there were."""
        with closing(self._connect()) as connection, connection:
            return connection.execute("DELETE FROM responses").rowcount
