"""The drills' stand-in model: valid answers for every agent's schema, and the router's first real candidate."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sdr_pipeline.agents.active_outreach import OutreachDraft
from sdr_pipeline.agents.lead_ingestion import ProfileDraft
from sdr_pipeline.agents.lead_scoring import ScoreDraft
from sdr_pipeline.agents.nurture_campaign import EmailDraft
from sdr_pipeline.drills.standin_model import answer_for, app


@pytest.mark.parametrize("model", [ProfileDraft, ScoreDraft, OutreachDraft, EmailDraft])
def test_every_agent_answer_validates(model) -> None:
    model.model_validate(answer_for(f"{model.__name__}_answer", model.model_json_schema()))


def _routing_schema(candidates: list[str]) -> dict:
    return {"type": "object", "required": ["agent", "confidence"],
            "properties": {"agent": {"type": "string", "enum": candidates},
                           "confidence": {"type": "number", "minimum": 0, "maximum": 1}}}


def test_the_router_gets_the_first_candidate_that_is_not_none_and_none_when_alone() -> None:
    assert answer_for("routing_decision", _routing_schema(["none", "lead_ingestion", "lead_scoring"]))["agent"] == \
        "lead_ingestion"
    assert answer_for("routing_decision", _routing_schema(["none"]))["agent"] == "none"


def test_it_answers_like_an_openai_endpoint() -> None:
    response = asyncio.run(_post_completion())
    assert response.status_code == 200
    assert '"send_email"' in response.json()["choices"][0]["message"]["content"]


async def _post_completion() -> httpx.Response:
    body = {"model": "standin", "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "routing_decision", "schema": _routing_schema(["send_email"])}}}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://standin") as client:
        return await client.post("/v1/chat/completions", json=body)
