"""active_outreach: one personalised 1:1 e-mail, grounded in the research profile or the prospect's reply."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sdr_pipeline.agents.drafting import brief_for, clean_body, prompt_for, reply_subject, trusted_link_hosts
from sdr_pipeline.agents.runtime import DATA_NOT_INSTRUCTIONS, AgentDeps, AgentWork, ask_model
from sdr_pipeline.contracts import ActiveOutreachInput, OutreachEmail

__all__ = ["OutreachDraft", "handle"]

NAME = "active_outreach"
_MAX_TOKENS = 450


class OutreachDraft(BaseModel):
    """What the model writes; the agent fills in the recipient and threading."""

    subject: str = Field(min_length=1, max_length=120)
    body: str = Field(min_length=1, max_length=1200)


_SYSTEM = """You are {sender}, a sales development rep. We sell {product}.
Write one short, personalised e-mail to the lead: at most 120 words, plain text, no markdown,
greeting them by first name. If their_reply is given, answer it directly and propose a concrete
next step such as a 20-minute call. Otherwise open with the problem they described, say in one
sentence how we help with it, and ask for a 20-minute call. Never mention scores, research,
profiles or "fit", and do not describe their own company back to them.
Use only the facts given: do not invent names, numbers, prices, customers or links, and include no URL.
Sign the e-mail as {sender}. Answer as JSON with a short subject (at most eight words) and body.
""" + DATA_NOT_INSTRUCTIONS


async def handle(envelope: ActiveOutreachInput, deps: AgentDeps) -> AgentWork:
    settings = deps.settings
    brief = brief_for(envelope, contract="engage_ready_lead", trusted_hosts=trusted_link_hosts(settings))
    answer = await ask_model(
        deps.llm, agent=NAME, system=_SYSTEM.format(sender=settings.sender_name, product=settings.product_pitch),
        user=prompt_for(brief), answer=OutreachDraft,
        max_tokens=_MAX_TOKENS, message_id=envelope.message_id,
    )
    draft = answer.value
    email = OutreachEmail(
        to=brief.to, subject=reply_subject(brief.reply_subject, draft.subject),
        body=clean_body(draft.body, allowed_hosts=brief.allowed_hosts, sender_name=settings.sender_name),
        in_reply_to=brief.in_reply_to,
    )
    return AgentWork(email, answer.prompt_tokens, answer.completion_tokens, answer.cost_usd)
