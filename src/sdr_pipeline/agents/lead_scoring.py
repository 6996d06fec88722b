"""lead_scoring: score a researched lead 0-100, choose the next step and list talking points."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from sdr_pipeline.agents.runtime import (
    DATA_NOT_INSTRUCTIONS,
    AgentDeps,
    AgentWork,
    ask_model,
    lead_facts,
    whole_sentences,
)
from sdr_pipeline.contracts import LeadScore, LeadScoringInput

__all__ = ["ScoreDraft", "handle"]

NAME = "lead_scoring"
_MAX_TOKENS = 300


class ScoreDraft(BaseModel):
    """What the model writes; the agent carries the profile forward."""

    score: int = Field(ge=0, le=100)
    next_step: Literal["actively_engage", "nurture"]
    talking_points: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=1, max_length=3)
    rationale: str = Field(min_length=1, max_length=250)


_SYSTEM = """You are an SDR team lead. We sell {product}.
Score how good a sales lead is, from 0 (no fit) to 100 (ideal fit with a concrete, urgent project).
Choose next_step "actively_engage" when the company fits and the lead shows a concrete need,
project, budget or timeline; choose "nurture" when the fit is weak, the need is vague, or the
timing is not now; a company of a handful of people or a lead that is "just curious" is nurture.
Give one to three talking points a seller should raise: each a distinct phrase of at most ten words,
grounded in the facts. Give a one-sentence rationale. Answer as JSON.
""" + DATA_NOT_INSTRUCTIONS


async def handle(envelope: LeadScoringInput, deps: AgentDeps) -> AgentWork:
    profile = envelope.context
    facts = {"lead": lead_facts(envelope), "research_profile": profile.model_dump(exclude={"sources"})}
    answer = await ask_model(
        deps.llm, agent=NAME, system=_SYSTEM.format(product=deps.settings.product_pitch),
        user=json.dumps(facts, ensure_ascii=False, default=str), answer=ScoreDraft,
        max_tokens=_MAX_TOKENS, message_id=envelope.message_id,
    )
    draft = answer.value
    score = LeadScore(score=draft.score, next_step=draft.next_step, talking_points=draft.talking_points,
                      rationale=whole_sentences(draft.rationale), profile=profile)
    return AgentWork(score, answer.prompt_tokens, answer.completion_tokens, answer.cost_usd)
