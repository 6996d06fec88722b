"""nurture_campaign: a three-e-mail sequence with send offsets, for a lead that is not ready yet."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sdr_pipeline.agents.drafting import brief_for, clean_body, prompt_for
from sdr_pipeline.agents.runtime import DATA_NOT_INSTRUCTIONS, AgentDeps, AgentWork, ask_model
from sdr_pipeline.contracts import NurtureCampaignInput, NurtureEmail, NurtureSequence

__all__ = ["SequenceDraft", "handle"]

NAME = "nurture_campaign"
_MAX_TOKENS = 900


class _EmailDraft(BaseModel):
    subject: str = Field(min_length=1, max_length=120)
    body: str = Field(min_length=1, max_length=800)
    send_offset_days: int = Field(ge=0, le=90)


class SequenceDraft(BaseModel):
    """What the model writes: exactly three e-mails."""

    emails: list[_EmailDraft] = Field(min_length=3, max_length=3)


_SYSTEM = """You are {sender}, a sales development rep. We sell {product}.
The lead is not ready to buy yet. Write a nurture sequence of exactly three short e-mails
(each at most 80 words, plain text, no markdown, greeting them by first name), each with a different purpose:
1. send_offset_days 0: thank them and share one practical tip about the problem they described;
2. about a week later: one question about their plans or timeline for that problem;
3. about a month later: a brief check-in offering a short call whenever the timing suits them.
Ground them in the facts given (their project, talking points, or their reply if any); if their reply
asks for material or says "not now", respect that. Never mention scores, research, profiles or "fit".
Do not invent names, numbers, prices, customers or links, and include no URL.
Sign each e-mail as {sender}. Answer as JSON.
""" + DATA_NOT_INSTRUCTIONS


async def handle(envelope: NurtureCampaignInput, deps: AgentDeps) -> AgentWork:
    brief = brief_for(envelope, contract="nurture_ready_lead")
    settings = deps.settings
    answer = await ask_model(
        deps.llm, agent=NAME, system=_SYSTEM.format(sender=settings.sender_name, product=settings.product_pitch),
        user=prompt_for(brief), answer=SequenceDraft,
        max_tokens=_MAX_TOKENS, message_id=envelope.message_id,
    )
    # Send order is by offset, whatever order the model wrote them in.
    drafts = sorted(answer.value.emails, key=lambda email: email.send_offset_days)
    sequence = NurtureSequence(to=brief.to, emails=[
        NurtureEmail(subject=draft.subject.strip(), send_offset_days=draft.send_offset_days,
                     body=clean_body(draft.body, allowed_hosts=brief.allowed_hosts, sender_name=settings.sender_name))
        for draft in drafts
    ])
    return AgentWork(sequence, answer.prompt_tokens, answer.completion_tokens, answer.cost_usd)
