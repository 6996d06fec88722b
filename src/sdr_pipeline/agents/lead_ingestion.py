"""lead_ingestion: research a raw lead and write its research profile.

Facts come from tools (CRM, enrichment, the company's public website); the model turns
them into a profile. Tool failures (unknown company, a refused or unreachable website)
are recorded as facts too, never fatal: a profile from the form fields alone is still a
profile, and its `sources` say what it rests on.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from pydantic import BaseModel, Field

from sdr_pipeline.agents.runtime import (
    DATA_NOT_INSTRUCTIONS,
    AgentDeps,
    AgentWork,
    ask_model,
    lead_facts,
    whole_sentences,
)
from sdr_pipeline.agents.tools import CompanyQuery, ResearchTools, domain_of
from sdr_pipeline.contracts import LeadIngestionInput, ResearchProfile
from sdr_pipeline.exceptions import OutsideError

__all__ = ["ProfileDraft", "gather_facts", "handle"]

logger = logging.getLogger(__name__)

NAME = "lead_ingestion"
_WEBSITE_EXCERPT_CHARS = 1500
_MAX_TOKENS = 400


class ProfileDraft(BaseModel):
    """What the model writes; the agent adds company name and sources."""

    company_summary: str = Field(min_length=1, max_length=350)
    industry: str = Field(min_length=1, max_length=60)
    size_estimate: str = Field(min_length=1, max_length=40)
    likely_use_cases: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=1, max_length=3)
    fit_assessment: str = Field(min_length=1, max_length=350)


_SYSTEM = """You are a B2B sales researcher. We sell {product}.
From the facts about a lead, write a research profile of the lead's company as JSON with:
company_summary (at most two short sentences on what the company does), industry (a few words),
size_estimate (an employee band such as "51-200 employees", or "unknown"),
likely_use_cases (one to three phrases of at most eight words: what they would use our product for),
fit_assessment (one or two short sentences: how well they fit our product and why; say so plainly when
they fit poorly, e.g. a very small company or no clear need).
Use only the facts given; where they say nothing, say "unknown" instead of guessing. Do not repeat yourself.
""" + DATA_NOT_INSTRUCTIONS


async def _lookup(name: str, call: Any, facts: dict[str, Any], sources: list[str], source: str) -> None:
    try:
        record = await call
    except OutsideError as error:
        facts[name] = f"lookup failed: {error}"
        logger.warning("%s lookup failed: %s", name, error)
        return
    if record:
        record.pop("_comment", None)
        facts[name] = record
        sources.append(source)
    else:
        facts[name] = "no record"


async def gather_facts(envelope: LeadIngestionInput, tools: ResearchTools) -> tuple[dict[str, Any], list[str]]:
    """Everything the tools know about the lead's company, and the sources that contributed."""
    lead = envelope.lead
    facts: dict[str, Any] = {"lead": lead_facts(envelope)}
    if envelope.context:
        facts["note"] = envelope.context
    sources: list[str] = ["lead"]
    query = CompanyQuery(domain=domain_of(website=lead.company_website, email=lead.email),
                         company_name=lead.company_name)
    await _lookup("crm", tools.crm.find(query), facts, sources, tools.crm.source)
    await _lookup("enrichment", tools.enrichment.find(query), facts, sources, tools.enrichment.source)
    website = lead.company_website or (f"https://{query.domain}" if query.domain else None)
    if website and tools.website is not None:
        try:
            page = await tools.website.fetch(website if "://" in website else f"https://{website}")
        except OutsideError as error:
            facts["website"] = f"not fetched: {error}"
            logger.info("lead_id=%s website not fetched: %s", envelope.lead_id, error)
        else:
            facts["website"] = {"url": page.final_url, "text_excerpt": page.text[:_WEBSITE_EXCERPT_CHARS]}
            sources.append(page.final_url)
    return facts, sources


async def handle(envelope: LeadIngestionInput, deps: AgentDeps) -> AgentWork:
    tools = deps.research or ResearchTools.from_settings(deps.settings)
    facts, sources = await gather_facts(envelope, tools)
    answer = await ask_model(
        deps.llm, agent=NAME, system=_SYSTEM.format(product=deps.settings.product_pitch),
        user=json.dumps(facts, ensure_ascii=False, default=str), answer=ProfileDraft,
        max_tokens=_MAX_TOKENS, message_id=envelope.message_id,
    )
    draft = answer.value
    enrichment = facts.get("enrichment")
    known_name = enrichment.get("company_name") if isinstance(enrichment, dict) else None
    profile = ResearchProfile(
        company_name=envelope.lead.company_name or known_name,
        company_summary=whole_sentences(draft.company_summary), industry=draft.industry,
        size_estimate=draft.size_estimate, likely_use_cases=draft.likely_use_cases,
        fit_assessment=whole_sentences(draft.fit_assessment), sources=sources,
    )
    return AgentWork(profile, answer.prompt_tokens, answer.completion_tokens, answer.cost_usd)
