"""Each model-using agent against the real local model (the default, Qwen2.5-Coder-1.5B): the answer is
valid against its output contract, grounded where we can check it, and published."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from sdr_pipeline.agents import Outbox, create_app
from sdr_pipeline.agents.tools import ResearchTools, crm_lookup, enrichment_lookup
from sdr_pipeline.contracts import (
    AGENT_MESSAGES,
    Envelope,
    LeadScore,
    NurtureSequence,
    OutreachEmail,
    ResearchProfile,
    parse_envelope,
)
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.llm import make_client
from sdr_pipeline.settings import Settings
from tests.agents.conftest import LEAD, PROFILE, RecordingSender
from tests.signing import agents_client

pytestmark = [pytest.mark.llm, pytest.mark.anyio]

SCORE = {"score": 78, "next_step": "actively_engage", "talking_points": ["Q1 budget", "leads wait a day"],
         "rationale": "Concrete pain and budget.", "profile": PROFILE}


@pytest.fixture(scope="module")
def app_client(llm_server_qwen: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    settings = llm_server_qwen.model_copy(update={"state_dir": tmp_path_factory.mktemp("agents-llm"),
                                                  "website_fetch": False, "llm_timeout_s": 600.0})
    bus = InMemoryBus()
    outbox = Outbox(settings.state_dir / "outbox.sqlite", RecordingSender(), sender_address=settings.email_from)
    tools = ResearchTools(crm=crm_lookup(settings), enrichment=enrichment_lookup(settings), website=None)
    app = create_app(settings, llm=make_client(settings, use_cache=False), publisher=bus, research=tools, outbox=outbox)
    yield app, bus, settings
    outbox.close()


async def run(app_client: tuple, agent: str, envelope: Envelope) -> Envelope:
    app, bus, settings = app_client
    async with agents_client(app, settings, timeout=900) as client:
        response = await client.post(f"/agents/{agent}", content=envelope.to_json(),
                                     headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    output = Envelope.model_validate(response.json()["output"])
    assert output.message_id in {parse_envelope(r.value).message_id for r in bus.topics[AGENT_MESSAGES]}
    assert (output.produced_by, output.hop, output.lead_id) == (agent, envelope.hop + 1, envelope.lead_id)
    return output


async def test_lead_ingestion(app_client) -> None:
    output = await run(app_client, "lead_ingestion", Envelope(lead_id="llm-1", produced_by="web_form", lead=LEAD))
    profile = ResearchProfile.model_validate(output.context)
    assert profile.company_summary.strip() and profile.fit_assessment.strip() and profile.likely_use_cases
    assert "crm_fixture" in profile.sources


async def test_lead_scoring(app_client) -> None:
    output = await run(app_client, "lead_scoring",
                       Envelope(lead_id="llm-2", produced_by="lead_ingestion", hop=1, lead=LEAD, context=PROFILE))
    score = LeadScore.model_validate(output.context)
    assert 0 <= score.score <= 100 and score.talking_points


async def test_active_outreach(app_client) -> None:
    output = await run(app_client, "active_outreach",
                       Envelope(lead_id="llm-3", produced_by="lead_scoring", hop=2, lead=LEAD, context=SCORE))
    email = OutreachEmail.model_validate(output.context)
    assert email.to == LEAD["email"]
    # No invented links, nor links to the lead's own hosts: any URL left is one of ours (email_from's domain).
    for url in re.findall(r"https?://\S+", email.body):
        assert "example.com" in url


async def test_nurture_campaign(app_client) -> None:
    nurture = {**SCORE, "next_step": "nurture", "score": 45}
    output = await run(app_client, "nurture_campaign",
                       Envelope(lead_id="llm-4", produced_by="lead_scoring", hop=2, lead=LEAD, context=nurture))
    sequence = NurtureSequence.model_validate(output.context)
    offsets = [email.send_offset_days for email in sequence.emails]
    assert len(sequence.emails) == 3 and offsets == sorted(offsets)
    assert len({email.body for email in sequence.emails}) == 3, "three different e-mails, not one three times"
