"""Company lookups for lead research: a CRM and a firmographic enrichment source.

Both sit behind one small interface, `CompanyLookup`. Offline (the default) they read
fixture files packaged under `tools/fixtures/` — made-up companies, clearly named
`*_fixture.json` and labelled `crm_fixture` / `enrichment_fixture` in every profile's
`sources`. Setting `SDR_CRM_URL` / `SDR_ENRICHMENT_URL` swaps in an HTTP API with the
same question (`GET <url>/companies?domain=...&name=...`, 404 when unknown).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from sdr_pipeline.exceptions import BadAnswerError, ServiceTimeoutError, ServiceUnavailableError, UserError
from sdr_pipeline.settings import Settings

__all__ = [
    "CompanyLookup",
    "CompanyQuery",
    "FixtureLookup",
    "HttpLookup",
    "crm_lookup",
    "domain_of",
    "enrichment_lookup",
    "fixture_path",
]

logger = logging.getLogger(__name__)

_FIXTURES = Path(__file__).with_name("fixtures")
_FREE_MAIL = frozenset({"gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "gmx.de"})


def fixture_path(name: str) -> Path:
    """A packaged fixture file, e.g. `crm_fixture.json`."""
    return _FIXTURES / name


def domain_of(*, website: str | None, email: str | None) -> str | None:
    """The company's domain: the website's host, else the e-mail's domain unless it is a free-mail one."""
    if website:
        host = website.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
        if host:
            return host.removeprefix("www.")
    if email and "@" in email:
        domain = email.rsplit("@", 1)[1].strip().lower()
        if domain and domain not in _FREE_MAIL:
            return domain
    return None


@dataclass(frozen=True)
class CompanyQuery:
    """What we know to look a company up by."""

    domain: str | None
    company_name: str | None


class CompanyLookup(Protocol):
    """A source of facts about a company; `source` names it in the profile's `sources`."""

    source: str

    async def find(self, query: CompanyQuery) -> dict[str, Any] | None:
        """The record for the company, or None if the source does not know it."""
        ...


class FixtureLookup:
    """Records from a JSON fixture file: {"records": [{"domain": ..., "company_name": ..., ...}]}."""

    def __init__(self, path: Path, *, source: str) -> None:
        self.source = source
        self.path = path
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"lookup fixture {path} not found", fix="fix SDR_CRM_FIXTURE / SDR_ENRICHMENT_FIXTURE") from None
        except json.JSONDecodeError as error:
            raise UserError(f"lookup fixture {path} is not valid JSON ({error})") from None
        self._records: list[dict[str, Any]] = list(document.get("records", []))

    async def find(self, query: CompanyQuery) -> dict[str, Any] | None:
        for record in self._records:
            if query.domain and str(record.get("domain", "")).lower() == query.domain:
                return dict(record)
        if query.company_name:
            wanted = query.company_name.strip().lower()
            for record in self._records:
                if str(record.get("company_name", "")).strip().lower() == wanted:
                    return dict(record)
        return None


class HttpLookup:
    """The same question asked of a real HTTP API."""

    def __init__(self, base_url: str, *, source: str, timeout_s: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._transport = transport

    async def find(self, query: CompanyQuery) -> dict[str, Any] | None:
        params = {key: value for key, value in (("domain", query.domain), ("name", query.company_name)) if value}
        if not params:
            return None
        async with httpx.AsyncClient(transport=self._transport, timeout=self.timeout_s) as client:
            try:
                response = await client.get(f"{self.base_url}/companies", params=params)
            except httpx.HTTPError as error:
                failure = ServiceTimeoutError if isinstance(error, httpx.TimeoutException) else ServiceUnavailableError
                raise failure(f"{self.source} at {self.base_url} failed ({type(error).__name__})") from None
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            failure = ServiceUnavailableError if response.status_code >= 500 else BadAnswerError
            raise failure(f"{self.source} at {self.base_url} answered HTTP {response.status_code}")
        try:
            record = response.json()
        except ValueError:
            raise BadAnswerError(f"{self.source} at {self.base_url} answered something that is not JSON") from None
        return record if isinstance(record, dict) else None


def crm_lookup(settings: Settings) -> CompanyLookup:
    """The CRM lookup the settings ask for: a real API if SDR_CRM_URL is set, else the fixture."""
    if settings.crm_url:
        return HttpLookup(settings.crm_url, source="crm")
    return FixtureLookup(settings.crm_fixture or fixture_path("crm_fixture.json"), source="crm_fixture")


def enrichment_lookup(settings: Settings) -> CompanyLookup:
    """The enrichment lookup the settings ask for: a real API if SDR_ENRICHMENT_URL is set, else the fixture."""
    if settings.enrichment_url:
        return HttpLookup(settings.enrichment_url, source="enrichment")
    return FixtureLookup(settings.enrichment_fixture or fixture_path("enrichment_fixture.json"),
                         source="enrichment_fixture")
