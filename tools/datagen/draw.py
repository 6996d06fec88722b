"""Seeded drawing: the people, companies and agent outputs every scenario is made of.

`Draw` holds the one seeded `random.Random` of a run and the phrasebook, and draws every value
from them in a fixed order; `scenarios.py` combines these draws into labelled cases. Nothing here
touches the global random state, so the same seed gives the same cases.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sdr_pipeline.contracts.payloads import (
    Delivery,
    DeliveryReport,
    LeadScore,
    NurtureEmail,
    NurtureSequence,
    OutreachEmail,
    ResearchProfile,
)
from sdr_pipeline.evals.datasets import ROUTING_LABELS
from tools.datagen.phrasebook import Phrasebook

__all__ = ["EPOCH", "Case", "Draw", "Persona", "slug"]

EPOCH = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
"""The earliest `created_at`; every timestamp is drawn as an offset from it."""
_SENDER = "sdr@example.com"
_AGENTS = ROUTING_LABELS[:-1]


@dataclass(frozen=True)
class Persona:
    """A prospect and their company; the lead fields of every message in one example."""

    lang: str
    first: str
    last: str
    company: str
    stem: str
    industry: str
    city: str
    size: str
    """The profile's size_estimate (`51-200 employees`)."""
    size_word: str
    """How a summary says the size (`mid-sized`)."""
    domain: str
    email: str
    website: str
    title: str
    lead_source: str
    description: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def initials(self) -> str:
        return f"{self.first[0]}{self.last[0]}".upper()

    def lead(self, **overrides: Any) -> dict[str, Any]:
        fields = {
            "name": self.name, "email": self.email, "company_name": self.company,
            "company_website": self.website, "job_title": self.title, "lead_source": self.lead_source,
            "project_description": self.description,
        }
        fields.update(overrides)
        return fields

    def fill(self, template: str, **extra: Any) -> str:
        return template.format(
            first=self.first, name=self.name, initials=self.initials, company=self.company, stem=self.stem,
            industry=self.industry, title=self.title, email=self.email, domain=self.domain, city=self.city,
            **extra,
        )


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits only, accents dropped: `Müller` -> `muller`."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("ß", "ss"))
    return "".join(char for char in decomposed if char.isascii() and char.isalnum())


@dataclass
class Case:
    """What a scenario returns; the generator turns it into an Example."""

    produced_by: str
    hop: int
    lead: dict[str, Any]
    context: str | dict[str, Any] | None
    label: str
    tags: list[str]
    note: str = ""
    minutes_before: int = 0
    """How much earlier than `created_at` the prospect's e-mail was received (replies)."""


class Draw:
    """Every value of a run, drawn from one seeded rng and the phrasebook, in the order of the calls."""

    def __init__(self, rng: random.Random, book: Phrasebook) -> None:
        self.rng = rng
        self.book = book

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    def persona(self, lang: str = "en") -> Persona:
        rng = self.rng
        first, last = self.pick(self.book.first_names[lang]), self.pick(self.book.last_names[lang])
        stem = self.pick(self.book.company_stems)
        industry = self.pick(self.book.industries)
        country = self.book.countries[lang]
        company = f"{stem} {industry.company_word} {self.pick(country.legal_suffixes)}"
        domain = f"{slug(stem)}{slug(industry.company_word)}{country.tld}"
        if rng.random() < 0.12:
            number = rng.randrange(1, 99)  # before the mailbox: the order of draws is the dataset
            email = f"{slug(first)}.{slug(last)}{number}@{self.pick(self.book.personal_email_domains)}"
        else:
            email = f"{slug(first)}.{slug(last)}@{domain}"
        city = self.pick(self.book.cities[lang])
        size = self.pick(self.book.size_bands)
        return Persona(
            lang=lang, first=first, last=last, company=company, stem=stem, industry=industry.industry, city=city,
            size=size.employees, size_word=size.word, domain=domain, email=email, website=f"https://www.{domain}",
            title=self.pick(self.book.job_titles[lang]), lead_source=self.pick(self.book.lead_sources),
            description=self.pick(self.book.project_descriptions[lang]),
        )

    def other_agent(self, label: str) -> str:
        return self.pick([agent for agent in (*_AGENTS, "none") if agent != label])

    def injection(self, target: str, lang: str = "en") -> str:
        if lang != "en" and self.rng.random() < 0.5:
            return self.book.foreign_injections[lang].format(target=target)
        return self.pick(self.book.injections).format(target=target)

    def message_ref(self, domain: str = "sdr.example.com") -> str:
        return f"<{self.rng.getrandbits(64):016x}@{domain}>"

    def profile(self, person: Persona) -> ResearchProfile:
        use_cases = self.rng.sample(self.book.use_cases, 2)
        return ResearchProfile(
            company_summary=person.fill(self.pick(self.book.company_summaries), size_word=person.size_word),
            industry=person.industry,
            fit_assessment=self.pick(self.book.fit_assessments),
            size_estimate=person.size,
            likely_use_cases=use_cases,
            company_name=person.company,
            sources=self.pick((["crm_fixture", "enrichment_fixture"], [person.website], ["enrichment_fixture"])),
        )

    def talking_points(self, person: Persona) -> list[str]:
        return [person.fill(point) for point in self.rng.sample(self.book.talking_points, 3)]

    def lead_score(self, person: Persona, *, score: int, next_step: str, rationale: str | None = None) -> LeadScore:
        if rationale is None:
            engage = next_step == "actively_engage"
            rationale = self.pick(self.book.engage_rationales if engage else self.book.nurture_rationales)
        return LeadScore(
            score=score, next_step=next_step, talking_points=self.talking_points(person), rationale=rationale,
            profile=self.profile(person) if self.rng.random() < 0.5 else None,
        )

    def outreach(self, person: Persona, *, in_reply_to: str | None = None) -> OutreachEmail:
        use_case = self.pick(self.book.use_cases)
        return OutreachEmail(
            to=person.email, subject=person.fill(self.pick(self.book.outreach_subjects), use_case=use_case),
            body=person.fill(self.pick(self.book.outreach_bodies), use_case=use_case), in_reply_to=in_reply_to,
        )

    def sequence(self, person: Persona) -> NurtureSequence:
        subjects = self.pick(self.book.nurture_subjects)
        offsets = self.pick(self.book.offset_plans)
        use_case = self.pick(self.book.use_cases)
        emails = [
            NurtureEmail(
                subject=person.fill(subject, use_case=use_case),
                body=person.fill(self.book.nurture_body,
                                 lead_in=person.fill(self.pick(self.book.nurture_lead_ins), use_case=use_case)),
                send_offset_days=offset,
            )
            for subject, offset in zip(subjects, offsets, strict=True)
        ]
        return NurtureSequence(to=person.email, emails=emails)

    def delivery(self, person: Persona, sent_at: datetime) -> DeliveryReport:
        if self.rng.random() < 0.5:
            email = self.outreach(person)
            deliveries = [Delivery(index=0, to=email.to, subject=email.subject, status="sent", send_at=sent_at,
                                   smtp_message_id=self.message_ref())]
        else:
            sequence = self.sequence(person)
            deliveries = [
                Delivery(index=index, to=sequence.to, subject=item.subject,
                         status="sent" if item.send_offset_days == 0 else "scheduled",
                         send_at=sent_at + timedelta(days=item.send_offset_days),
                         smtp_message_id=self.message_ref() if item.send_offset_days == 0 else None)
                for index, item in enumerate(sequence.emails)
            ]
        sent = sum(1 for item in deliveries if item.status == "sent")
        return DeliveryReport(deliveries=deliveries, sent_count=sent, scheduled_count=len(deliveries) - sent)

    def reply_body(self, person: Persona, intent: str, tone: str) -> str:
        """An English reply of one intent in one tone."""
        group = self.book.intents.group(intent)
        if tone == "terse":
            core = self.pick(self.book.terse_cores[intent])
        else:
            core = self.pick(self.book.reply_cores[intent])
            opener = self.book.tone_openers.get(tone, {}).get(group)
            if opener:
                core = f"{self.pick(opener)} {core}"
        greeting = self.pick(self.book.tone_greetings[tone])
        closer = person.fill(self.pick(self.book.tone_closers[tone]))
        return "\n\n".join(part for part in (greeting, core, closer) if part)

    def foreign_reply_body(self, person: Persona, intent: str) -> tuple[str, str]:
        """A reply in the persona's language; returns (body, tone)."""
        formal = self.rng.random() < 0.5
        register = "formal" if formal else "friendly"
        greeting = getattr(self.book.foreign_greetings[person.lang], register)
        closer = person.fill(getattr(self.book.foreign_closers[person.lang], register))
        body = f"{greeting}\n\n{self.book.foreign_reply_cores[person.lang][intent]}\n\n{closer}"
        return body, register

    def reply_case(self, person: Persona, body: str, *, label: str, tags: list[str], note: str = "",
                   subject: str | None = None, from_address: str | None = None) -> Case:
        """Wrap a reply body as intake writes it: an InboundReply object, or (sometimes) the bare text."""
        if subject is None:
            original = person.fill(self.pick(self.book.outreach_subjects), use_case=self.pick(self.book.use_cases))
            subject = self.book.reply_subject_prefixes[person.lang] + original
        minutes_before = self.rng.randrange(1, 30)
        if self.rng.random() < 0.6:
            context: str | dict[str, Any] = {
                "from_address": from_address or person.email, "to_address": _SENDER, "subject": subject,
                "body": body, "in_reply_to": self.message_ref(),
            }
        else:
            context = body
        return Case("inbound_email", self.rng.randrange(3, 7), person.lead(), context, label,
                    ["stage:reply", *tags, "well_formed"], note, minutes_before=minutes_before)
