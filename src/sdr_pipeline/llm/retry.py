"""The one retry policy for LLM calls: which failures are worth another try, and how long to wait.

Transient failures (timeouts, refused connections, HTTP 408/429/5xx) are retried with
exponential backoff plus random jitter, so parallel evaluation workers do not retry in
lock-step. Everything else (bad request, bad key, unknown model) fails at once.
The openai SDK's own retries are switched off so this is the only loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import openai
import tenacity

from sdr_pipeline.settings import Settings

__all__ = ["RetryPolicy", "is_retryable"]

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable(error: BaseException) -> bool:
    """True for failures that another attempt may fix."""
    if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in _RETRYABLE_STATUS or error.status_code >= 500
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff of one LLM call."""

    max_attempts: int = 3
    """Total tries, the first included."""
    initial_backoff_s: float = 0.5
    """Wait before the second try; doubles each time."""
    max_backoff_s: float = 8.0
    """Upper bound of one wait (before jitter)."""
    jitter_s: float = 0.5
    """Random extra wait, uniform in [0, jitter_s]."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(max_attempts=max(1, settings.llm_max_attempts))

    def _arguments(self) -> dict:
        return {
            "stop": tenacity.stop_after_attempt(self.max_attempts),
            "wait": tenacity.wait_exponential_jitter(initial=self.initial_backoff_s, max=self.max_backoff_s,
                                                     jitter=self.jitter_s),
            "retry": tenacity.retry_if_exception(is_retryable),
            "before_sleep": _log_retry,
            "reraise": True,
        }

    def retrying(self) -> tenacity.Retrying:
        """A fresh tenacity controller for one blocking call."""
        return tenacity.Retrying(**self._arguments())

    def async_retrying(self) -> tenacity.AsyncRetrying:
        """A fresh tenacity controller for one awaited call."""
        return tenacity.AsyncRetrying(**self._arguments())


def _log_retry(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.warning("LLM call attempt %d failed (%s); retrying in %.1f s",
                   state.attempt_number, type(error).__name__, wait)
