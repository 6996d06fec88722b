"""How often one client, and one e-mail address, may knock on each of intake's public doors.

Counted with the `limits` library (moving window, storage from `intake_rate_storage`: memory by
default, redis to share counters between replicas). A client address is counted before its
body is even read; an e-mail address once the submission or reply names it. Over a limit, the
door answers 429 with Retry-After and a sentence saying which limit and when to try again.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from sdr_pipeline.settings import Settings

__all__ = ["RateLimits", "Refusal"]


@dataclass(frozen=True)
class Refusal:
    """Why a request was over a limit, and when it may come back."""

    detail: str
    retry_after_s: int


class RateLimits:
    """Per-client and per-address limits for each door (`form`, `leads`, `inbound-email`)."""

    def __init__(self, *, per_ip: str, per_address: str, storage_uri: str = "memory://") -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._per_ip = parse_many(per_ip)
        self._per_address = parse_many(per_address)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(per_ip=settings.intake_rate_per_ip, per_address=settings.intake_rate_per_address,
                   storage_uri=settings.intake_rate_storage)

    def client(self, door: str, ip: str) -> Refusal | None:
        """Count one request from `ip` at `door`; a Refusal once it is over SDR_INTAKE_RATE_PER_IP."""
        return self._hit(self._per_ip, door, "ip", ip, f"from {ip}", "SDR_INTAKE_RATE_PER_IP")

    def address(self, door: str, email: str) -> Refusal | None:
        """Count one submission or reply by `email` at `door`; a Refusal once over SDR_INTAKE_RATE_PER_ADDRESS."""
        key = email.strip().lower()
        return self._hit(self._per_address, door, "address", key, f"for {key}", "SDR_INTAKE_RATE_PER_ADDRESS")

    def _hit(self, items: list[RateLimitItem], door: str, kind: str, key: str, who: str, setting: str
             ) -> Refusal | None:
        for item in items:
            if not self._limiter.hit(item, door, kind, key):
                reset = self._limiter.get_window_stats(item, door, kind, key).reset_time
                retry = max(1, math.ceil(reset - time.time()))
                return Refusal(f"too many requests {who} to {door}: at most {item} ({setting}); "
                               f"try again in {retry} s", retry)
        return None
