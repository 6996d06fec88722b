"""Doubling, capped waits between tries that outlive a process: an outbox row's, a redelivered task's.

In-process retry loops use tenacity directly (`llm/retry.py`, the dispatcher); these schedules are
kept in data (a row's `retry_at`, a redelivery's `due_ms`), so they only need the next wait.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenacity import RetryCallState, wait_exponential

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """`attempts` tries at most, the n-th wait `initial_s` · 2^(n-1), never more than `max_s` (tenacity's
    exponential wait)."""

    attempts: int
    initial_s: float
    max_s: float

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failure (1 for the first)."""
        state = RetryCallState(None, None, (), {})
        state.attempt_number = max(1, attempt)
        return float(wait_exponential(multiplier=self.initial_s, max=self.max_s)(state))
