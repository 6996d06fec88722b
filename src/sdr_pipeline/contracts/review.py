"""A person's answer to a decision the router was too unsure to act on, and its signature.

`sdr-pipeline review resolve` puts the original envelope back on `agent_messages` with a
`review` field; the routing job's gate acts on it only when its HMAC (over the message id and
the chosen agent, with `SDR_REVIEW_SECRET`) is valid, so writing to the topic is not enough
to choose an agent.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sdr_pipeline.contracts.envelope import utc_now
from sdr_pipeline.contracts.signing import digest, matches

__all__ = ["REVIEW_FIELD", "ReviewVerdict", "review_signature"]

REVIEW_FIELD = "review"
"""The envelope field that carries a signed verdict."""


def review_signature(secret: str, *, message_id: str, agent: str) -> str:
    """Hex HMAC-SHA256 of `message_id` and `agent` under `secret` (the shared `contracts.signing` digest)."""
    return digest(secret, f"{message_id}\n{agent}".encode())


class ReviewVerdict(BaseModel):
    """Which agent a reviewer chose for one message, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent: str = Field(min_length=1, max_length=64)
    reviewer: str = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=1000)
    signature: str = Field(min_length=64, max_length=64)
    resolved_at: datetime = Field(default_factory=utc_now)

    def valid_for(self, message_id: str, secret: str) -> bool:
        """True when `secret` is set and the signature matches this message and agent."""
        return bool(secret) and matches(review_signature(secret, message_id=message_id, agent=self.agent),
                                        self.signature)
