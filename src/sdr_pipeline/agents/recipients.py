"""Whom send_email may write to: the addresses intake holds for a lead, never what an envelope says.

Intake records every lead it admits (and each colleague whose reply verified); send_email asks
it through intake's signed `/internal/leads/{lead_id}` door before it sends. A `LeadDirectory`
is that question; `IntakeDirectory` asks intake over HTTP, `StaticDirectory` answers from a table
(tests, offline runs).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from sdr_pipeline.contracts import LeadAddresses
from sdr_pipeline.contracts.signing import request_headers
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.settings import Settings

__all__ = ["IntakeDirectory", "LeadDirectory", "StaticDirectory"]

logger = logging.getLogger(__name__)

_ATTEMPTS = 3
"""Tries per lookup on a connection failure, a timeout or a 5xx (the dispatcher retries the whole call after)."""


class LeadDirectory(Protocol):
    """Answers, for one lead id, the addresses intake holds, or None for a lead intake never saw."""

    async def addresses(self, lead_id: str) -> LeadAddresses | None: ...


class _Transient(Exception):
    """A lookup failure worth one more try."""


class IntakeDirectory:
    """Asks the intake service, signing each request with the shared dispatch secret."""

    def __init__(self, base_url: str, secret: str, *, timeout_s: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self.timeout_s = timeout_s
        self._transport = transport

    @classmethod
    def from_settings(cls, settings: Settings, secret: str) -> IntakeDirectory:
        return cls(settings.intake_url, secret, timeout_s=settings.intake_lookup_timeout_s)

    async def addresses(self, lead_id: str) -> LeadAddresses | None:
        url = f"{self.base_url}/internal/leads/{quote(lead_id, safe='')}"
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=self.timeout_s, trust_env=False) as client:
                async for attempt in AsyncRetrying(stop=stop_after_attempt(_ATTEMPTS), reraise=True,
                                                   wait=wait_exponential_jitter(initial=0.2, max=2.0),
                                                   retry=retry_if_exception_type(_Transient)):
                    with attempt:
                        return await self._ask(client, url, lead_id)
        except _Transient as error:
            raise InfraError("intake", f"cannot look up lead_id={lead_id} at {self.base_url} ({error})",
                             fix="start intake (`sdr-pipeline infra up intake`) or point SDR_INTAKE_BASE_URL at it; "
                                 "the dispatch is retried") from None
        return None  # pragma: no cover - AsyncRetrying either returns or raises

    async def _ask(self, client: httpx.AsyncClient, url: str, lead_id: str) -> LeadAddresses | None:
        try:
            response = await client.get(url, headers=request_headers(b"", self._secret, url=url, method="GET"))
        except httpx.HTTPError as error:
            raise _Transient(f"{type(error).__name__}: {error}") from None
        if response.status_code == 404:
            return None
        if response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code in (401, 403):
            raise InfraError("intake", f"refused send_email's signed lookup of lead_id={lead_id} "
                                       f"(HTTP {response.status_code}: {response.text[:300]})",
                             fix="give the agents and intake the same SDR_DISPATCH_SECRET, with clocks within "
                                 "SDR_SIGNATURE_MAX_AGE_S of each other")
        if response.status_code != 200:
            raise InfraError("intake", f"answered HTTP {response.status_code} to the lookup of lead_id={lead_id}: "
                                       f"{response.text[:300]}")
        try:
            return LeadAddresses.model_validate_json(response.content)
        except ValueError as error:
            raise InfraError("intake", f"answered the lookup of lead_id={lead_id} with something that is not a "
                                       f"lead's addresses ({error})",
                             fix="run the same sdr-pipeline version for the agents and intake") from None


class StaticDirectory:
    """A fixed table of leads' addresses: for tests and offline runs, never for a deployment."""

    def __init__(self, leads: Mapping[str, LeadAddresses] | None = None) -> None:
        self.leads = dict(leads or {})

    async def addresses(self, lead_id: str) -> LeadAddresses | None:
        return self.leads.get(lead_id)
