"""The envelope: the value of every message on `agent_messages`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sdr_pipeline.contracts.parsing import parse_json_model

__all__ = ["ENVELOPE_VERSION", "Envelope", "Lead", "new_message_id", "parse_envelope", "utc_now"]

ENVELOPE_VERSION = "1"


def new_message_id() -> str:
    """A fresh, globally unique message id (the idempotency key downstream)."""
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


class Lead(BaseModel):
    """What we know about the person; real traffic leaves any field empty."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    email: str | None = None
    company_name: str | None = None
    company_website: str | None = None
    job_title: str | None = None
    lead_source: str | None = None
    project_description: str | None = None


class Envelope(BaseModel):
    """One message of one lead's workflow; extra fields (trace ids, budgets) are kept."""

    model_config = ConfigDict(extra="allow")

    message_id: str = Field(default_factory=new_message_id, min_length=1)
    """Unique id; agents and the outbox use it to do work exactly once."""
    lead_id: str = Field(min_length=1)
    """The Kafka key: all messages of a lead share a partition and an order."""
    hop: int = Field(default=0, ge=0)
    """Agent hops so far; 0 for a fresh lead."""
    produced_by: str = Field(min_length=1)
    """web_form | crm_import | inbound_email | an agent name."""
    created_at: datetime = Field(default_factory=utc_now)
    lead: Lead = Field(default_factory=Lead)
    context: str | dict[str, Any] | None = None
    """The producer's output: free text or a JSON object."""
    parent_message_id: str | None = None
    schema_version: str = ENVELOPE_VERSION

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=False)

    def to_bytes(self) -> bytes:
        return self.to_json().encode("utf-8")


def parse_envelope(raw: bytes | str | dict[str, Any]) -> Envelope:
    """Validate one envelope, turning any failure into a ContractError naming the field."""
    return parse_json_model(Envelope, raw, contract="envelope", version=ENVELOPE_VERSION)
