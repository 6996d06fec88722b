"""Fixtures for router tests: the repo's prompt files, the packaged registry, one envelope per stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr_pipeline.contracts import Envelope
from sdr_pipeline.registry import AgentRegistry, load_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout: prompts/ is read from here, not from the working directory."""


@pytest.fixture(scope="session")
def prompts_dir() -> Path:
    return REPO_ROOT / "prompts"


@pytest.fixture(scope="session")
def registry() -> AgentRegistry:
    return load_registry()


def _envelope(produced_by: str, context, *, hop: int, **lead) -> Envelope:
    lead = {"name": "Priya Nair", "email": "priya@brightwave.io", "company_name": "Brightwave Logistics", **lead}
    return Envelope(lead_id="lead-priya", produced_by=produced_by, hop=hop, lead=lead, context=context)


@pytest.fixture(scope="session")
def stage_envelopes() -> dict[str, Envelope]:
    """One clear envelope per workflow stage, shaped like the real payload contracts."""
    profile = {
        "company_summary": "Brightwave runs cold-chain trucking fleets in Northern Europe.",
        "industry": "Manufacturing",
        "fit_assessment": "Strong fit: telemetry from 900 trucks and a CTO who owns the data platform.",
        "size_estimate": "201-500 employees",
    }
    return {
        "raw_lead": _envelope("web_form", None, hop=0, job_title="CTO",
                              project_description="We want to stream truck telemetry into our warehouse."),
        "research_profile": _envelope("lead_ingestion", profile, hop=1),
        "score_engage": _envelope("lead_scoring", {"score": 86, "next_step": "actively_engage",
                                                   "talking_points": ["telemetry volume"], "profile": profile}, hop=2),
        "score_nurture": _envelope("lead_scoring", {"score": 35, "next_step": "nurture",
                                                    "talking_points": ["no budget this year"]}, hop=2),
        "outreach_email": _envelope("active_outreach", {"to": "priya@brightwave.io", "subject": "Streaming truck telemetry",
                                                        "body": "Hi Priya, would a short call next week help?"}, hop=3),
        "delivery_report": _envelope("send_email", {
            "deliveries": [{"index": 0, "to": "priya@brightwave.io", "subject": "Streaming truck telemetry", "status": "sent",
                            "send_at": "2025-11-24T10:00:00Z"}],
            "sent_count": 1, "scheduled_count": 0}, hop=4),
        "reply_demo": _envelope("inbound_email", {
            "from_address": "priya@brightwave.io", "subject": "Re: Streaming truck telemetry",
            "body": "Yes please, can we book a demo on Thursday? And what does it cost for 900 trucks?"}, hop=5),
        "reply_later": _envelope("inbound_email", "Not this quarter, but send me some material and check back in spring.",
                                 hop=5),
        "reply_unsubscribe": _envelope("inbound_email", "Remove me from your mailing list. Do not contact me again.",
                                       hop=5),
    }
