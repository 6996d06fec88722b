"""Tools the agents use, each behind a small interface so tests and settings can swap them."""

from __future__ import annotations

from dataclasses import dataclass

from sdr_pipeline.agents.tools.lookups import (
    CompanyLookup,
    CompanyQuery,
    FixtureLookup,
    HttpLookup,
    crm_lookup,
    domain_of,
    enrichment_lookup,
)
from sdr_pipeline.agents.tools.website import WebPage, WebsiteFetcher, check_address, check_host, system_resolver
from sdr_pipeline.settings import Settings

__all__ = [
    "CompanyLookup",
    "CompanyQuery",
    "FixtureLookup",
    "HttpLookup",
    "ResearchTools",
    "WebPage",
    "WebsiteFetcher",
    "check_address",
    "check_host",
    "crm_lookup",
    "domain_of",
    "enrichment_lookup",
    "system_resolver",
]


@dataclass(frozen=True)
class ResearchTools:
    """What lead_ingestion may consult."""

    crm: CompanyLookup
    enrichment: CompanyLookup
    website: WebsiteFetcher | None
    """None when website fetching is turned off (SDR_WEBSITE_FETCH=false)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ResearchTools:
        website = WebsiteFetcher(
            timeout_s=settings.website_timeout_s, max_bytes=settings.website_max_bytes,
            max_redirects=settings.website_max_redirects,
        ) if settings.website_fetch else None
        return cls(crm=crm_lookup(settings), enrichment=enrichment_lookup(settings), website=website)
