"""Lead research goes on without a service that is down, but a misconfiguration stops it with its reason."""

from __future__ import annotations

import httpx
import pytest

from sdr_pipeline.agents.lead_ingestion import gather_facts
from sdr_pipeline.agents.tools import ResearchTools
from sdr_pipeline.agents.tools.lookups import CompanyQuery, HttpLookup
from sdr_pipeline.contracts.payloads import LeadIngestionInput
from sdr_pipeline.exceptions import BadAnswerError, ServiceUnavailableError, UserError
from tests.agents.conftest import LEAD

pytestmark = pytest.mark.anyio


def _crm(status: int, body: object = None) -> HttpLookup:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    return HttpLookup("http://crm.test", source="crm_api", transport=transport)


class _Misconfigured:
    source = "crm_fixture"

    async def find(self, query):
        raise UserError("lookup fixture /missing.json not found", fix="fix SDR_CRM_FIXTURE")


async def _facts(crm) -> dict:
    tools = ResearchTools(crm=crm, enrichment=_crm(404), website=None)
    envelope = LeadIngestionInput(lead_id="lead-nw", produced_by="web_form", lead=LEAD)
    facts, _ = await gather_facts(envelope, tools)
    return facts


async def test_a_crm_that_is_down_or_answers_badly_is_noted_and_research_goes_on() -> None:
    with pytest.raises(ServiceUnavailableError):
        await _crm(503).find(CompanyQuery(domain="x.example", company_name=None))
    with pytest.raises(BadAnswerError):
        await _crm(400).find(CompanyQuery(domain="x.example", company_name=None))
    facts = await _facts(_crm(500))
    assert facts["crm"].startswith("lookup failed: ") and "HTTP 500" in facts["crm"]
    assert facts["enrichment"] == "no record"


async def test_a_misconfigured_lookup_stops_research_instead_of_degrading_it() -> None:
    with pytest.raises(UserError, match="SDR_CRM_FIXTURE"):
        await _facts(_Misconfigured())
