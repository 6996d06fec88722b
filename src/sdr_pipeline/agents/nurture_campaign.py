"""nurture_campaign: a three-e-mail sequence with send offsets, for a lead that is not ready yet."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sdr_pipeline.agents.drafting import brief_for, clean_body, one_line, prompt_for, trusted_link_hosts
from sdr_pipeline.agents.runtime import DATA_NOT_INSTRUCTIONS, AgentDeps, AgentWork, ask_model
from sdr_pipeline.contracts import NurtureCampaignInput, NurtureEmail, NurtureSequence

__all__ = ["EmailDraft", "handle"]

NAME = "nurture_campaign"
_MAX_TOKENS = 400


class EmailDraft(BaseModel):
    """What the model writes for one e-mail of the sequence."""

    subject: str = Field(min_length=1, max_length=120)
    body: str = Field(min_length=1, max_length=700)


_PURPOSES: tuple[tuple[int, str], ...] = (
    (0, "the first e-mail, sent now: thank them for their interest and share one practical tip about "
        "the problem they described"),
    (7, "the second e-mail, a week later: ask one question about their plans or timeline for that problem"),
    (30, "the third and last e-mail, a month later: a brief check-in offering a short call whenever the "
         "timing suits them"),
)
"""Send offset in days and purpose of each e-mail. One model call per e-mail: asked for all three
at once, a small model writes the same e-mail two or three times."""

_SYSTEM = """You are {sender}, a sales development rep. We sell {product}.
The lead is not ready to buy yet, so they get a nurture sequence of three e-mails. Write {purpose}.
At most 80 words, plain text, no markdown, greeting them by first name.
Ground it in the facts given (their project, talking points, or their reply if any); if their reply
asks for material or says "not now", respect that. Never mention scores, research, profiles or "fit".
Do not invent names, numbers, prices, customers or links, and include no URL.
Sign it as {sender}. Answer as JSON.
""" + DATA_NOT_INSTRUCTIONS


async def handle(envelope: NurtureCampaignInput, deps: AgentDeps) -> AgentWork:
    settings = deps.settings
    brief = brief_for(envelope, contract="nurture_ready_lead", trusted_hosts=trusted_link_hosts(settings))
    answers = [await ask_model(
        deps.llm, agent=NAME,
        system=_SYSTEM.format(sender=settings.sender_name, product=settings.product_pitch, purpose=purpose),
        user=prompt_for(brief), answer=EmailDraft, max_tokens=_MAX_TOKENS, message_id=envelope.message_id,
    ) for _, purpose in _PURPOSES]
    sequence = NurtureSequence(to=brief.to, emails=[
        NurtureEmail(subject=one_line(answer.value.subject), send_offset_days=offset,
                     body=clean_body(answer.value.body, allowed_hosts=brief.allowed_hosts,
                                     sender_name=settings.sender_name))
        for (offset, _), answer in zip(_PURPOSES, answers, strict=True)
    ])
    return AgentWork(sequence, sum(a.prompt_tokens for a in answers), sum(a.completion_tokens for a in answers),
                     sum(a.cost_usd for a in answers))
