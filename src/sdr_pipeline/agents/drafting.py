"""What the two e-mail writers (active_outreach, nurture_campaign) share: who to write to, what
facts to ground the e-mail in, and the clean-up that keeps a model from inventing links.

Nothing the lead wrote decides where an e-mail goes or what it links to: a reply is answered
at the lead's own address unless its sender is a colleague at the lead's own domain (and
send_email still mails only addresses intake holds), and links survive only to our own
hosts (`trusted_link_hosts`), never to hosts found in the lead's fields, reply or research.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sdr_pipeline.agents.runtime import lead_facts
from sdr_pipeline.contracts import Envelope, InboundReply, LeadScore
from sdr_pipeline.exceptions import ContractError
from sdr_pipeline.settings import Settings

__all__ = ["EmailBrief", "brief_for", "clean_body", "one_line", "prompt_for", "reply_subject", "trusted_link_hosts"]

_URL = re.compile(r"(?:https?://|www\.)[^\s<>()\"'\]\[]+", re.IGNORECASE)
_NAME_PLACEHOLDER = re.compile(r"\[(?:your|my|sender(?:'s)?)[ _]name\]|\[name\]", re.IGNORECASE)


@dataclass(frozen=True)
class EmailBrief:
    """Everything a writer needs: recipient, threading, and the facts for the prompt."""

    to: str
    facts: dict[str, Any]
    in_reply_to: str | None
    """Message-ID our e-mail answers (replies only)."""
    reply_subject: str | None
    """Subject of the prospect's reply, if this answers one."""
    allowed_hosts: frozenset[str]
    """Hosts a link in the body may point to (with their subdomains): ours, from settings, never the lead's."""
    focus: str
    """One plain sentence saying whom we write to and about what: small models follow it better than JSON."""


def _hosts_in(text: str) -> set[str]:
    hosts = set()
    for match in _URL.findall(text):
        url = match if "://" in match else f"https://{match}"
        try:
            host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
        except ValueError:  # e.g. a broken IPv6 literal: no host we could trust
            host = "(unreadable)"
        hosts.add(host or "(none)")
    return hosts


def trusted_link_hosts(settings: Settings) -> frozenset[str]:
    """Hosts drafted e-mails may link to: `email_link_hosts` and the domain of our own sender address."""
    own = settings.email_from.rsplit("@", 1)[-1].strip().lower()
    return frozenset(host.lower().removeprefix("www.") for host in (*settings.email_link_hosts, own) if host)


def _domain(address: str | None) -> str:
    return (address or "").rsplit("@", 1)[-1].strip().lower() if address and "@" in address else ""


def _recipient(lead_address: str | None, sender: str | None) -> str | None:
    """Whom a reply is answered at: its sender if that is a colleague at the lead's own domain, else the lead."""
    if sender and (not lead_address or _domain(sender) == _domain(lead_address)):
        return sender
    return lead_address


def brief_for(envelope: Envelope, *, contract: str, trusted_hosts: frozenset[str] = frozenset()) -> EmailBrief:
    """The brief for writing to this lead; a lead with no address to write to is a ContractError (422).
    `trusted_hosts` (see `trusted_link_hosts`) are the only hosts a link may point to."""
    context = envelope.context
    facts: dict[str, Any] = {"lead": lead_facts(envelope)}
    in_reply_to = reply_subject = None
    to = envelope.lead.email
    if isinstance(context, LeadScore):
        facts["scoring"] = context.model_dump(exclude={"profile"})
        if context.profile is not None:
            facts["research_profile"] = context.profile.model_dump(exclude={"sources"})
    elif isinstance(context, InboundReply):
        facts["their_reply"] = {"subject": context.subject, "body": context.body}
        to = _recipient(to, context.from_address)
        in_reply_to = context.reply_message_id or context.in_reply_to
        reply_subject = context.subject or None
    elif isinstance(context, str):
        facts["their_reply"] = {"body": context}
    if not to or "@" not in to:
        raise ContractError(contract, "no e-mail address to write to", field="lead.email",
                            lead_id=envelope.lead_id, message_id=envelope.message_id)
    return EmailBrief(to=to.strip(), facts=facts, in_reply_to=in_reply_to, reply_subject=reply_subject,
                      allowed_hosts=trusted_hosts, focus=_focus(envelope, facts))


def _focus(envelope: Envelope, facts: dict[str, Any]) -> str:
    lead = envelope.lead
    first_name = (lead.name or "").split(" ")[0] or "there"
    where = " at ".join(part for part in (lead.job_title, lead.company_name) if part)
    line = f"You write to the prospect {first_name}" + (f" ({where})" if where else "") + "."
    reply = facts.get("their_reply")
    if isinstance(reply, dict) and reply.get("body"):
        return line + f' They wrote to us: "{str(reply["body"])[:600]}"'
    if lead.project_description:
        line += f' They told us: "{lead.project_description[:600]}"'
    return line


def prompt_for(brief: EmailBrief) -> str:
    """The user message of an e-mail writer: the facts as JSON, then the one-line focus."""
    return json.dumps(brief.facts, ensure_ascii=False, default=str) + "\n\n" + brief.focus


def _trusted(host: str, allowed_hosts: frozenset[str]) -> bool:
    return any(host == allowed or host.endswith(f".{allowed}") for allowed in allowed_hosts)


def clean_body(body: str, *, allowed_hosts: frozenset[str], sender_name: str) -> str:
    """Drop every link except to `allowed_hosts` (and their subdomains), and fill a left-over name placeholder."""

    def keep_or_drop(match: re.Match[str]) -> str:
        hosts = _hosts_in(match.group(0))
        return match.group(0) if hosts and all(_trusted(host, allowed_hosts) for host in hosts) else ""

    body = _URL.sub(keep_or_drop, body)
    body = _NAME_PLACEHOLDER.sub(sender_name, body)
    body = re.sub(r"[ \t]+\n", "\n", body)
    return re.sub(r"\n{3,}", "\n\n", body).strip()


def one_line(text: str) -> str:
    """Text as one header line: a model's or a sender's line breaks and runs of spaces become one space
    (the e-mail contracts refuse a header holding a line break)."""
    return " ".join(text.split())


def reply_subject(subject: str | None, fallback: str) -> str:
    """`Re: <their subject>` for a reply, else the model's subject; one line either way."""
    subject, fallback = one_line(subject or ""), one_line(fallback)
    if not subject:
        return fallback
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"
