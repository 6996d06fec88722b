"""The seeded routing-dataset generator: `sdr-pipeline datasets generate`.

It writes `<name>.jsonl` (generated examples plus the hand-written hard cases, each with a
`dev`/`test` split), `<name>.card.md` and `hard_cases.card.md`. Everything random comes from
`random.Random` instances seeded from `seed`, and everything is written in a fixed order,
so the same seed and the same hard-case file give byte-identical files.

Labels follow the routing policy of DESIGN.md. The agent outputs of the well-formed
cases are instances of the payload models in `sdr_pipeline.contracts.payloads`, dumped to
JSON, so the `contract` routing policy can be measured on them; the key-drift, value-drift
and free-text cases deliberately break those contracts the way real LLM agents do.
"""

from __future__ import annotations

import json
import logging
import math
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sdr_pipeline.contracts import Envelope, Lead
from sdr_pipeline.contracts.payloads import (
    Delivery,
    DeliveryReport,
    InboundReply,
    LeadScore,
    NurtureEmail,
    NurtureSequence,
    OutreachEmail,
    ResearchProfile,
)
from sdr_pipeline.evals import _phrasebook as pb
from sdr_pipeline.evals.datasets import (
    ROUTING_LABELS,
    SPLITS,
    Example,
    count_table,
    dataset_sha256,
    load_dataset,
    write_dataset,
)
from sdr_pipeline.exceptions import UserError

__all__ = [
    "DATASET_NAME",
    "DEFAULT_SEED",
    "DEFAULT_TEST_FRACTION",
    "ENGAGE_SCORE_THRESHOLD",
    "HARD_CASES_FILE",
    "TAG_GLOSSARY",
    "GeneratedDataset",
    "assign_splits",
    "generate_dataset",
    "generate_examples",
]

logger = logging.getLogger(__name__)

DATASET_NAME = "routing_v1"
DEFAULT_SEED = 20250606
DEFAULT_TEST_FRACTION = 0.4
"""Share of each label (and of the hard cases) that goes to `test`; the rest is `dev`."""
HARD_CASES_FILE = "hard_cases.jsonl"
ENGAGE_SCORE_THRESHOLD = 70
"""Where a consistent scorer would switch from nurture to actively_engage. Only used to draw
near-threshold and conflicting scores; the label always follows `next_step`."""

_EPOCH = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
_SENDER = "sdr@example.com"
_SIZE_WORDS = ("small", "small", "mid-sized", "mid-sized", "large", "very large")
"""How a company summary words each of `SIZE_BANDS`."""
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_AGENTS = ROUTING_LABELS[:-1]

TAG_GLOSSARY: dict[str, str] = {
    "well_formed": "the context is a valid instance of its producer's contract (raw lead, reply, agent payload)",
    "missing_fields": "lead fields or payload fields are empty or absent",
    "near_threshold": f"score within 6 points of {ENGAGE_SCORE_THRESHOLD}; the label follows next_step",
    "next_step_conflict": "score and next_step disagree; next_step wins",
    "reply": "a prospect's e-mail reply (produced_by inbound_email); see intent:* and tone:*",
    "non_english": "text in another language; see lang:*",
    "prompt_injection": "a lead field, reply or payload tries to dictate the route; it is data, not a command",
    "spam": "spam or junk, by e-mail or through the web form",
    "junk_lead": "a web-form submission with nothing usable in it",
    "unsubscribe": "the prospect asks to be removed from the list",
    "opt_out": "the prospect says they are not interested and asks not to be contacted",
    "out_of_office": "an automatic out-of-office reply",
    "bounce": "a hard bounce from a mail server",
    "free_text_output": "an agent's output given as prose or a JSON string instead of a JSON object",
    "key_drift": "an agent's output with renamed, nested or missing keys",
    "value_drift": "an agent's output with the right keys but values in another format",
    "re_engagement": "an old lead coming back (new form, CRM recycle, or a reply months later)",
    "lead_update": "a CRM update of a lead nobody has researched yet",
    "hard_case": "hand-written in datasets/hard_cases.jsonl",
    "stage:*": "which producer wrote the message: raw_lead, research, score, drafts, delivery, reply",
    "intent:*": "what a reply asks for",
    "tone:*": "how a reply is written",
    "lang:*": "language of the free text",
    "next_step:*": "the next_step a scoring output states (or means, when drifted)",
}


# --- people -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Persona:
    """A prospect and their company; the lead fields of every message in one example."""

    lang: str
    first: str
    last: str
    company: str
    stem: str
    industry: str
    city: str
    size: str
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


def _slug(text: str) -> str:
    """Lower-case ASCII letters and digits only, accents dropped: `Müller` -> `muller`."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("ß", "ss"))
    return "".join(char for char in decomposed if char.isascii() and char.isalnum())


@dataclass
class _Case:
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


# --- the scenarios --------------------------------------------------------------------------------


class _Maker:
    """Draws every value from one seeded rng; each `s_*` method makes one case of one scenario."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # helpers ---------------------------------------------------------------------------
    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.rng.randrange(len(options))]

    def persona(self, lang: str = "en") -> _Persona:
        rng = self.rng
        first, last = self.pick(pb.FIRST_NAMES[lang]), self.pick(pb.LAST_NAMES[lang])
        stem = self.pick(pb.COMPANY_STEMS)
        industry_word, industry = self.pick(pb.INDUSTRIES)
        tld, suffixes = pb.COUNTRY[lang]
        company = f"{stem} {industry_word} {self.pick(suffixes)}"
        domain = f"{_slug(stem)}{_slug(industry_word)}{tld}"
        if rng.random() < 0.12:
            email = f"{_slug(first)}.{_slug(last)}{rng.randrange(1, 99)}@{self.pick(pb.PERSONAL_EMAIL_DOMAINS)}"
        else:
            email = f"{_slug(first)}.{_slug(last)}@{domain}"
        return _Persona(
            lang=lang, first=first, last=last, company=company, stem=stem, industry=industry,
            city=self.pick(pb.CITIES[lang]), size=self.pick(pb.SIZE_BANDS), domain=domain, email=email,
            website=f"https://www.{domain}", title=self.pick(pb.JOB_TITLES[lang]),
            lead_source=self.pick(pb.LEAD_SOURCES), description=self.pick(pb.PROJECT_DESCRIPTIONS[lang]),
        )

    def other_agent(self, label: str) -> str:
        return self.pick([agent for agent in (*_AGENTS, "none") if agent != label])

    def injection(self, target: str, lang: str = "en") -> str:
        if lang != "en" and self.rng.random() < 0.5:
            return pb.FOREIGN_INJECTIONS[lang].format(target=target)
        return self.pick(pb.INJECTIONS).format(target=target)

    def message_ref(self, domain: str = "sdr.example.com") -> str:
        return f"<{self.rng.getrandbits(64):016x}@{domain}>"

    def profile(self, person: _Persona) -> ResearchProfile:
        use_cases = self.rng.sample(pb.USE_CASES, 2)
        size_word = _SIZE_WORDS[pb.SIZE_BANDS.index(person.size)]
        return ResearchProfile(
            company_summary=person.fill(self.pick(pb.COMPANY_SUMMARIES), size_word=size_word),
            industry=person.industry,
            fit_assessment=self.pick(pb.FIT_ASSESSMENTS),
            size_estimate=person.size,
            likely_use_cases=use_cases,
            company_name=person.company,
            sources=self.pick((["crm_fixture", "enrichment_fixture"], [person.website], ["enrichment_fixture"])),
        )

    def talking_points(self, person: _Persona) -> list[str]:
        return [person.fill(point) for point in self.rng.sample(pb.TALKING_POINTS, 3)]

    def lead_score(self, person: _Persona, *, score: int, next_step: str, rationale: str | None = None) -> LeadScore:
        if rationale is None:
            rationale = self.pick(pb.ENGAGE_RATIONALES if next_step == "actively_engage" else pb.NURTURE_RATIONALES)
        return LeadScore(
            score=score, next_step=next_step, talking_points=self.talking_points(person), rationale=rationale,
            profile=self.profile(person) if self.rng.random() < 0.5 else None,
        )

    def outreach(self, person: _Persona, *, in_reply_to: str | None = None) -> OutreachEmail:
        use_case = self.pick(pb.USE_CASES)
        return OutreachEmail(
            to=person.email, subject=person.fill(self.pick(pb.OUTREACH_SUBJECTS), use_case=use_case),
            body=person.fill(self.pick(pb.OUTREACH_BODIES), use_case=use_case), in_reply_to=in_reply_to,
        )

    def sequence(self, person: _Persona) -> NurtureSequence:
        subjects = self.pick(pb.NURTURE_SUBJECTS)
        offsets = self.pick(pb.OFFSET_PLANS)
        use_case = self.pick(pb.USE_CASES)
        emails = [
            NurtureEmail(
                subject=person.fill(subject, use_case=use_case),
                body=person.fill(pb.NURTURE_BODY, lead_in=person.fill(self.pick(pb.NURTURE_LEAD_INS),
                                                                      use_case=use_case)),
                send_offset_days=offset,
            )
            for subject, offset in zip(subjects, offsets, strict=True)
        ]
        return NurtureSequence(to=person.email, emails=emails)

    def delivery(self, person: _Persona, sent_at: datetime) -> DeliveryReport:
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

    def reply_body(self, person: _Persona, intent: str, tone: str) -> str:
        """An English reply of one intent in one tone."""
        group = "buy" if intent in pb.BUYING_INTENTS else "nurture" if intent in pb.NURTURE_INTENTS else "stop"
        if tone == "terse":
            core = self.pick(pb.TERSE_CORES[intent])
        else:
            core = self.pick(pb.REPLY_CORES[intent])
            opener = pb.TONE_OPENERS.get((tone, group))
            if opener:
                core = f"{self.pick(opener)} {core}"
        greeting = self.pick(pb.TONE_GREETINGS[tone])
        closer = person.fill(self.pick(pb.TONE_CLOSERS[tone]))
        return "\n\n".join(part for part in (greeting, core, closer) if part)

    def foreign_reply_body(self, person: _Persona, intent: str) -> tuple[str, str]:
        """A reply in the persona's language; returns (body, tone)."""
        formal = self.rng.random() < 0.5
        greeting = pb.FOREIGN_GREETINGS[person.lang][1 if formal else 0]
        closer = person.fill(pb.FOREIGN_CLOSERS[person.lang][1 if formal else 0])
        body = f"{greeting}\n\n{pb.FOREIGN_REPLY_CORES[person.lang][intent]}\n\n{closer}"
        return body, "formal" if formal else "friendly"

    def reply_case(self, person: _Persona, body: str, *, label: str, tags: list[str], note: str = "",
                   subject: str | None = None, from_address: str | None = None) -> _Case:
        """Wrap a reply body as intake writes it: an InboundReply object, or (sometimes) the bare text."""
        if subject is None:
            original = person.fill(self.pick(pb.OUTREACH_SUBJECTS), use_case=self.pick(pb.USE_CASES))
            subject = pb.REPLY_SUBJECT_PREFIX[person.lang] + original
        minutes_before = self.rng.randrange(1, 30)
        if self.rng.random() < 0.6:
            context: str | dict[str, Any] = {
                "from_address": from_address or person.email, "to_address": _SENDER, "subject": subject,
                "body": body, "in_reply_to": self.message_ref(),
            }
        else:
            context = body
        return _Case("inbound_email", self.rng.randrange(3, 7), person.lead(), context, label,
                     ["stage:reply", *tags, "well_formed"], note, minutes_before=minutes_before)

    # raw leads -> lead_ingestion -----------------------------------------------------------
    def s_raw_clean(self, index: int) -> _Case:
        person = self.persona()
        if self.rng.random() < 0.6:
            return _Case("web_form", 0, person.lead(), None, "lead_ingestion", ["stage:raw_lead", "well_formed"])
        context = self.pick((
            None,
            f"Imported from the CRM campaign '{self.pick(pb.LEAD_SOURCES)}'.",
            {"crm_id": f"00Q{self.rng.getrandbits(40):010X}", "owner": "Alex Rivera", "status": "Open - Not Contacted"},
        ))
        return _Case("crm_import", 0, person.lead(lead_source="crm_import"), context, "lead_ingestion",
                     ["stage:raw_lead", "well_formed"])

    def s_raw_missing(self, index: int) -> _Case:
        person = self.persona()
        lead = person.lead()
        optional = ["job_title", "project_description", "lead_source", "company_website"]
        identifying = ["name", "email", "company_name"]
        dropped = self.rng.sample(optional, self.rng.randint(1, 3)) + self.rng.sample(identifying,
                                                                                     self.rng.randint(0, 2))
        for key in dropped:
            style = self.rng.randrange(3)
            if style == 0:
                del lead[key]
            else:
                lead[key] = None if style == 1 else ""
        note = f"missing: {', '.join(sorted(dropped))}; still a raw lead to enrich"
        return _Case(self.pick(("web_form", "crm_import")), 0, lead, None, "lead_ingestion",
                     ["stage:raw_lead", "missing_fields", "well_formed"], note)

    def s_raw_foreign(self, index: int) -> _Case:
        lang = pb.FOREIGN_LANGUAGES[index % len(pb.FOREIGN_LANGUAGES)]
        person = self.persona(lang)
        return _Case(self.pick(("web_form", "crm_import")), 0, person.lead(), None, "lead_ingestion",
                     ["stage:raw_lead", "non_english", f"lang:{lang}", "well_formed"])

    def s_raw_injection(self, index: int) -> _Case:
        lang = "en" if index % 3 else self.pick(pb.FOREIGN_LANGUAGES)
        person = self.persona(lang)
        target = self.other_agent("lead_ingestion")
        text = self.injection(target, lang)
        slot = ("project_description", "job_title", "name", "company_name")[index % 4]
        lead = person.lead()
        lead[slot] = text if slot == "job_title" else f"{lead[slot]} {text}"
        tags = ["stage:raw_lead", "prompt_injection", "well_formed"]
        if lang != "en":
            tags[1:1] = ["non_english", f"lang:{lang}"]
        return _Case("web_form", 0, lead, None, "lead_ingestion", tags,
                     f"{slot} asks for {target}; lead fields are data, this is a new raw lead")

    def s_raw_re_engagement(self, index: int) -> _Case:
        person = self.persona()
        old_month = self.pick(pb.OLD_MONTHS)
        if index % 2:
            context: Any = self.pick(pb.RE_ENGAGEMENT_CRM_NOTES).format(old_month=old_month)
            produced_by = "crm_import"
        else:
            context = {"previous_status": self.pick(("closed_lost", "nurture_completed", "unresponsive")),
                       "last_activity": old_month, "resubmitted": True}
            produced_by = "web_form"
        return _Case(produced_by, 0, person.lead(), context, "lead_ingestion",
                     ["stage:raw_lead", "re_engagement", "well_formed"],
                     "an old lead is back with new information: research it again")

    def s_raw_update(self, index: int) -> _Case:
        person = self.persona()
        note = self.pick(pb.LEAD_UPDATE_NOTES).format(old_title=self.pick(pb.JOB_TITLES["en"]), title=person.title)
        context: Any = note if index % 2 else {"update": note, "source": "crm_sync"}
        return _Case("crm_import", 0, person.lead(lead_source="crm_import"), context, "lead_ingestion",
                     ["stage:raw_lead", "lead_update", "well_formed"], "an updated lead that was never researched")

    # research profiles -> lead_scoring -------------------------------------------------------
    def s_research_clean(self, index: int) -> _Case:
        person = self.persona()
        return _Case("lead_ingestion", 1, person.lead(), self.profile(person).model_dump(mode="json"),
                     "lead_scoring", ["stage:research", "well_formed"])

    def s_research_missing_optional(self, index: int) -> _Case:
        person = self.persona()
        context = self.profile(person).model_dump(mode="json")
        dropped = self.rng.sample(["size_estimate", "likely_use_cases", "company_name", "sources"],
                                  self.rng.randint(1, 4))
        for key in dropped:
            del context[key]
        lead = person.lead(job_title=None) if self.rng.random() < 0.5 else person.lead()
        return _Case("lead_ingestion", 1, lead, context, "lead_scoring",
                     ["stage:research", "missing_fields", "well_formed"],
                     f"profile without {', '.join(sorted(dropped))}: optional, still a research profile")

    def s_research_missing_required(self, index: int) -> _Case:
        person = self.persona()
        context = self.profile(person).model_dump(mode="json")
        key = ("fit_assessment", "industry", "company_summary")[index % 3]
        if self.rng.random() < 0.5:
            del context[key]
        else:
            context[key] = ""
        return _Case("lead_ingestion", 1, person.lead(), context, "lead_scoring",
                     ["stage:research", "missing_fields"],
                     f"incomplete research profile (no {key}); the lead is researched, scoring is next")

    def s_research_drift(self, index: int) -> _Case:
        person = self.persona()
        profile = self.profile(person)
        variant = index % 5
        if variant == 0:
            context: dict[str, Any] = {"summary": profile.company_summary, "sector": profile.industry,
                                       "fit": profile.fit_assessment, "employees": profile.size_estimate}
        elif variant == 1:
            context = {"companySummary": profile.company_summary, "Industry": profile.industry,
                       "fitAssessment": profile.fit_assessment, "useCases": profile.likely_use_cases}
        elif variant == 2:
            context = {"profile": profile.model_dump(mode="json"), "status": "research_complete"}
        elif variant == 3:
            context = {"research_report": person.fill(self.pick(pb.RESEARCH_REPORT_TEXT), size=profile.size_estimate,
                                                      summary_tail=profile.company_summary,
                                                      use_case_1=profile.likely_use_cases[0],
                                                      use_case_2=profile.likely_use_cases[1],
                                                      fit=profile.fit_assessment)}
        else:
            context = {"research": {"company": person.company, "notes": profile.company_summary,
                                    "assessment": profile.fit_assessment}}
        return _Case("lead_ingestion", 1, person.lead(), context, "lead_scoring", ["stage:research", "key_drift"],
                     "a research profile under other key names")

    def s_research_text(self, index: int) -> _Case:
        person = self.persona()
        profile = self.profile(person)
        text = person.fill(pb.RESEARCH_REPORT_TEXT[index % len(pb.RESEARCH_REPORT_TEXT)], size=profile.size_estimate,
                           summary_tail=profile.company_summary, use_case_1=profile.likely_use_cases[0],
                           use_case_2=profile.likely_use_cases[1], fit=profile.fit_assessment)
        return _Case("lead_ingestion", 1, person.lead(), text, "lead_scoring", ["stage:research", "free_text_output"],
                     "lead_ingestion's research report as prose")

    def s_research_foreign(self, index: int) -> _Case:
        lang = pb.FOREIGN_LANGUAGES[index % len(pb.FOREIGN_LANGUAGES)]
        person = self.persona(lang)
        profile = self.profile(person).model_copy(update={
            "company_summary": person.fill(pb.FOREIGN_SUMMARIES[lang]),
            "fit_assessment": pb.FOREIGN_FITS[lang],
        })
        return _Case("lead_ingestion", 1, person.lead(), profile.model_dump(mode="json"), "lead_scoring",
                     ["stage:research", "non_english", f"lang:{lang}", "well_formed"])

    def s_research_injection(self, index: int) -> _Case:
        person = self.persona()
        target = self.other_agent("lead_scoring")
        injection = self.injection(target)
        lead = person.lead(project_description=f"{person.description} {injection}")
        profile = self.profile(person).model_copy(update={
            "fit_assessment": f"Form answer quoted verbatim: \"{injection}\" Otherwise a plausible fit.",
        })
        return _Case("lead_ingestion", 1, lead, profile.model_dump(mode="json"), "lead_scoring",
                     ["stage:research", "prompt_injection", "well_formed"],
                     f"the quoted form answer asks for {target}; it is data")

    # lead scores -> active_outreach / nurture_campaign ---------------------------------------
    def _score_case(self, person: _Persona, score: LeadScore | dict[str, Any] | str, *, step: str,
                    tags: list[str], note: str = "") -> _Case:
        label = "active_outreach" if step == "actively_engage" else "nurture_campaign"
        context = score.model_dump(mode="json") if isinstance(score, LeadScore) else score
        return _Case("lead_scoring", 2, person.lead(), context, label, ["stage:score", f"next_step:{step}", *tags],
                     note)

    @staticmethod
    def _step(index: int) -> str:
        return "actively_engage" if index % 2 == 0 else "nurture"

    def s_score_clean(self, index: int) -> _Case:
        person, step = self.persona(), self._step(index)
        value = self.rng.randint(78, 97) if step == "actively_engage" else self.rng.randint(12, 60)
        return self._score_case(person, self.lead_score(person, score=value, next_step=step), step=step,
                                tags=["well_formed"])

    def s_score_near(self, index: int) -> _Case:
        person, step = self.persona(), self._step(index)
        low, high = ENGAGE_SCORE_THRESHOLD - 6, ENGAGE_SCORE_THRESHOLD + 6
        value = (self.rng.randint(ENGAGE_SCORE_THRESHOLD, high) if step == "actively_engage"
                 else self.rng.randint(low, ENGAGE_SCORE_THRESHOLD - 1))
        return self._score_case(person, self.lead_score(person, score=value, next_step=step), step=step,
                                tags=["near_threshold", "well_formed"], note=f"score {value} near the threshold")

    def s_score_conflict(self, index: int) -> _Case:
        person, step = self.persona(), self._step(index)
        near = index % 3 == 2
        tags = ["next_step_conflict", "well_formed"]
        if step == "actively_engage":
            value = self.rng.randint(ENGAGE_SCORE_THRESHOLD - 6, ENGAGE_SCORE_THRESHOLD - 1) if near \
                else self.rng.randint(5, 45)
            rationale = self.pick(pb.CONFLICT_ENGAGE_RATIONALES)
        else:
            value = self.rng.randint(ENGAGE_SCORE_THRESHOLD, ENGAGE_SCORE_THRESHOLD + 6) if near \
                else self.rng.randint(82, 99)
            rationale = self.pick(pb.CONFLICT_NURTURE_RATIONALES)
        if near:
            tags.insert(1, "near_threshold")
        score = self.lead_score(person, score=value, next_step=step, rationale=rationale)
        return self._score_case(person, score, step=step, tags=tags,
                                note=f"score {value} but next_step {step}: next_step wins")

    def s_score_drift(self, index: int) -> _Case:
        person, step = self.persona(), self._step(index)
        value = self.rng.randint(75, 95) if step == "actively_engage" else self.rng.randint(15, 60)
        words = pb.ENGAGE_WORDS if step == "actively_engage" else pb.NURTURE_WORDS
        word = self.pick([word for word in words if word != step])  # the exact value would not be drift
        points = self.talking_points(person)
        variant = (index // 2) % 5
        tags = ["key_drift"]
        if variant == 0:
            context: dict[str, Any] = {"lead_score": value, "nextStep": word, "talkingPoints": points}
        elif variant == 1:
            context = {"Score": str(value), "Next Step": word, "Talking Points": "; ".join(points)}
        elif variant == 2:
            context = {"rating": f"{value}/100", "recommended_action": word, "notes": points}
        elif variant == 3:
            context = {"result": {"score": value, "decision": word}, "talking_points": points}
        else:
            context = {"score": value, "next_step": word, "talking_points": points}
            tags = ["value_drift"]
        return self._score_case(person, context, step=step, tags=tags, note=f"scoring output meaning {step}")

    def s_score_text(self, index: int) -> _Case:
        person, step = self.persona(), self._step(index)
        value = self.rng.randint(75, 95) if step == "actively_engage" else self.rng.randint(15, 60)
        word = self.pick(pb.ENGAGE_WORDS[:3] if step == "actively_engage" else pb.NURTURE_WORDS[:3])
        points = self.talking_points(person)
        variant = (index // 2) % 4
        if variant == 0:
            bullets = "\n".join(f"- {point}" for point in points)
            text = f"Lead score: {value}/100\nNext step: {word}\nTalking points:\n{bullets}"
        elif variant == 1:
            phrase = "reach out personally now" if step == "actively_engage" else "put them in a nurture sequence"
            text = (f"After reviewing the research I'd put {person.company} at {value} out of 100. "
                    f"Recommendation: {phrase}. Key angles: {'; '.join(points)}")
        elif variant == 2:
            text = json.dumps({"score": str(value), "next_step": "Actively Engage" if step == "actively_engage"
                               else "Nurture", "talking_points": points})
        else:
            text = f"**Score:** {value}\n**Next step:** {word}\n\n" + "\n".join(f"* {p}" for p in points)
        return self._score_case(person, text, step=step, tags=["free_text_output"],
                                note="lead_scoring's output as text" + (" (a JSON string)" if variant == 2 else ""))

    def s_score_injection(self, index: int) -> _Case:
        person = self.persona()
        target = self.other_agent("nurture_campaign")
        score = self.lead_score(person, score=self.rng.randint(20, 55), next_step="nurture")
        points = [*score.talking_points[:2], f"Prospect wrote: '{self.injection(target)}'"]
        score = score.model_copy(update={"talking_points": points})
        return self._score_case(person, score, step="nurture", tags=["prompt_injection", "well_formed"],
                                note=f"a talking point quotes an instruction to use {target}; next_step is nurture")

    # replies -> active_outreach / nurture_campaign / none -------------------------------------
    _EN_COMBOS_BUY = tuple((intent, tone) for intent in pb.BUYING_INTENTS for tone in pb.TONES)
    _EN_COMBOS_NURTURE = tuple((intent, tone) for intent in pb.NURTURE_INTENTS for tone in pb.TONES)
    _EN_COMBOS_STOP = tuple((intent, tone) for intent in pb.STOP_INTENTS for tone in pb.TONES)

    @staticmethod
    def _reply_label(intent: str) -> str:
        if intent in pb.BUYING_INTENTS:
            return "active_outreach"
        return "nurture_campaign" if intent in pb.NURTURE_INTENTS else "none"

    @staticmethod
    def _intent_tags(intent: str) -> list[str]:
        return [f"intent:{intent}", *([intent] if intent in pb.STOP_INTENTS else [])]

    def _reply_en(self, intent: str, tone: str) -> _Case:
        person = self.persona()
        body = self.reply_body(person, intent, tone)
        return self.reply_case(person, body, label=self._reply_label(intent),
                               tags=["reply", *self._intent_tags(intent), f"tone:{tone}"])

    def s_reply_buy(self, index: int) -> _Case:
        return self._reply_en(*self._EN_COMBOS_BUY[index % len(self._EN_COMBOS_BUY)])

    def s_reply_nurture(self, index: int) -> _Case:
        return self._reply_en(*self._EN_COMBOS_NURTURE[index % len(self._EN_COMBOS_NURTURE)])

    def s_reply_stop(self, index: int) -> _Case:
        return self._reply_en(*self._EN_COMBOS_STOP[index % len(self._EN_COMBOS_STOP)])

    def _reply_foreign(self, intents: Sequence[str], index: int) -> _Case:
        lang = pb.FOREIGN_LANGUAGES[index % len(pb.FOREIGN_LANGUAGES)]
        intent = intents[(index // len(pb.FOREIGN_LANGUAGES)) % len(intents)]
        person = self.persona(lang)
        body, tone = self.foreign_reply_body(person, intent)
        return self.reply_case(person, body, label=self._reply_label(intent),
                               tags=["reply", *self._intent_tags(intent), f"tone:{tone}", "non_english",
                                     f"lang:{lang}"])

    def s_reply_buy_foreign(self, index: int) -> _Case:
        return self._reply_foreign(pb.BUYING_INTENTS, index)

    def s_reply_nurture_foreign(self, index: int) -> _Case:
        return self._reply_foreign(pb.NURTURE_INTENTS, index)

    def s_reply_stop_foreign(self, index: int) -> _Case:
        return self._reply_foreign(pb.STOP_INTENTS, index)

    def _reply_injected(self, intents: Sequence[str], index: int) -> _Case:
        intent = intents[index % len(intents)]
        tone = self.pick(("friendly", "formal", "terse"))
        label = self._reply_label(intent)
        person = self.persona()
        target = self.other_agent(label)
        body = self.reply_body(person, intent, tone)
        injection = self.injection(target)
        body = f"{body}\n\n{injection}" if index % 2 else f"{injection}\n\n{body}"
        return self.reply_case(person, body, label=label,
                               tags=["reply", *self._intent_tags(intent), f"tone:{tone}", "prompt_injection"],
                               note=f"the reply asks for {target}; judge its intent, not its instructions")

    def s_reply_buy_injection(self, index: int) -> _Case:
        return self._reply_injected(pb.BUYING_INTENTS, index)

    def s_reply_nurture_injection(self, index: int) -> _Case:
        return self._reply_injected(pb.NURTURE_INTENTS, index)

    def s_reply_stop_injection(self, index: int) -> _Case:
        return self._reply_injected(pb.STOP_INTENTS, index)

    def _reply_re_engagement(self, intents: Sequence[str], index: int) -> _Case:
        intent = intents[index % len(intents)]
        person = self.persona()
        opener = self.pick(pb.RE_ENGAGEMENT_OPENERS).format(old_month=self.pick(pb.OLD_MONTHS))
        body = f"Hi Alex,\n\n{opener} {self.pick(pb.REPLY_CORES[intent])}\n\n{person.first}"
        case = self.reply_case(person, body, label=self._reply_label(intent),
                               tags=["reply", *self._intent_tags(intent), "tone:friendly", "re_engagement"],
                               note="a reply to a months-old thread")
        case.hop = self.rng.randrange(5, 10)
        return case

    def s_reply_buy_re_engagement(self, index: int) -> _Case:
        return self._reply_re_engagement(pb.BUYING_INTENTS, index)

    def s_reply_nurture_re_engagement(self, index: int) -> _Case:
        return self._reply_re_engagement(pb.NURTURE_INTENTS, index)

    def s_out_of_office(self, index: int) -> _Case:
        lang = "en" if index % 2 == 0 else pb.FOREIGN_LANGUAGES[(index // 2) % len(pb.FOREIGN_LANGUAGES)]
        person = self.persona(lang)
        prefix, body = self.pick(pb.OUT_OF_OFFICE[lang])
        colleague = f"{self.pick(pb.FIRST_NAMES[lang])}.{_slug(self.pick(pb.LAST_NAMES[lang]))}@{person.domain}"
        day = _EPOCH + timedelta(days=self.rng.randrange(10, 150))
        date = f"{_MONTHS[day.month - 1]} {day.day}" if lang == "en" else f"{day.day:02d}.{day.month:02d}."
        original = person.fill(self.pick(pb.OUTREACH_SUBJECTS), use_case=self.pick(pb.USE_CASES))
        tags = ["out_of_office"] + (["non_english", f"lang:{lang}"] if lang != "en" else [])
        return self.reply_case(person, body.format(date=date, colleague=colleague.lower()), label="none", tags=tags,
                               subject=prefix + original, note="an automatic reply; nobody answered")

    def s_bounce(self, index: int) -> _Case:
        person = self.persona()
        sender, subject, body = pb.BOUNCES[index % len(pb.BOUNCES)]
        original = person.fill(self.pick(pb.OUTREACH_SUBJECTS), use_case=self.pick(pb.USE_CASES))
        quote = person.fill(self.pick(pb.BOUNCE_QUOTES), subject=original)
        text = person.fill(body, subject=original) + quote
        tags = ["bounce"] + (["non_english", "lang:de"] if "Unzustellbar" in subject else [])
        return self.reply_case(person, text, label="none", tags=tags, subject=person.fill(subject, subject=original),
                               from_address=person.fill(sender), note="a hard bounce: the address does not exist")

    def s_spam(self, index: int) -> _Case:
        person = self.persona()
        sender, subject, body = pb.SPAM[index % len(pb.SPAM)]
        tags = ["spam"] + (["non_english", "lang:es"] if sender.endswith(".es") else [])
        case = self.reply_case(person, body, label="none", tags=tags, subject=subject, from_address=sender,
                               note="spam that arrived on the reply address")
        case.lead = {"email": sender, "lead_source": "inbound_email"}
        return case

    def s_junk_lead(self, index: int) -> _Case:
        if index % 3 == 0:
            return _Case("web_form", 0, {}, None, "none", ["stage:raw_lead", "junk_lead", "missing_fields"],
                         "an empty form submission: nothing to research")
        junk = pb.JUNK_LEADS[index % len(pb.JUNK_LEADS)]
        return _Case("web_form", 0, {**junk, "lead_source": "web_form"}, None, "none",
                     ["stage:raw_lead", "junk_lead", "spam", "well_formed"], "a bot or test submission")

    # drafted e-mails -> send_email -------------------------------------------------------------
    def s_outreach_clean(self, index: int) -> _Case:
        person = self.persona()
        after_reply = index % 4 == 3
        email = self.outreach(person, in_reply_to=self.message_ref(person.domain) if after_reply else None)
        return _Case("active_outreach", 5 if after_reply else 3, person.lead(), email.model_dump(mode="json"),
                     "send_email", ["stage:drafts", "well_formed"])

    def s_sequence_clean(self, index: int) -> _Case:
        person = self.persona()
        return _Case("nurture_campaign", 3, person.lead(), self.sequence(person).model_dump(mode="json"),
                     "send_email", ["stage:drafts", "well_formed"])

    def s_drafts_drift(self, index: int) -> _Case:
        person = self.persona()
        variant = index % 6
        if variant < 3:
            email = self.outreach(person)
            producer = "active_outreach"
            if variant == 0:
                context: dict[str, Any] = {"email": {"to": email.to, "subject": email.subject, "body": email.body}}
            elif variant == 1:
                context = {"recipient": email.to, "subject_line": email.subject, "email_body": email.body}
            else:
                context = {"campaign_type": "active_outreach",
                           "emails": [{"subject": email.subject, "body": email.body}]}
        else:
            sequence = self.sequence(person)
            producer = "nurture_campaign"
            items = [item.model_dump() for item in sequence.emails]
            if variant == 3:
                context = {"to": sequence.to, "sequence": items}
            elif variant == 4:
                context = {"campaign_type": "nurture",
                           "emails": [{"subject": item["subject"], "body": item["body"],
                                       "delay_days": item["send_offset_days"]} for item in items]}
            else:
                context = {"to": sequence.to,
                           "emails": [{"subject": item["subject"], "content": item["body"],
                                       "day": item["send_offset_days"]} for item in items]}
        return _Case(producer, 3, person.lead(), context, "send_email", ["stage:drafts", "key_drift"],
                     f"{producer}'s drafts under other key names")

    def s_drafts_text(self, index: int) -> _Case:
        person = self.persona()
        if index % 2 == 0:
            email = self.outreach(person)
            return _Case("active_outreach", 3, person.lead(), f"Subject: {email.subject}\n\n{email.body}",
                         "send_email", ["stage:drafts", "free_text_output"], "one drafted e-mail as text")
        sequence = self.sequence(person)
        text = "\n\n".join(f"Email {number} (send on day {item.send_offset_days})\nSubject: {item.subject}\n\n"
                           f"{item.body}" for number, item in enumerate(sequence.emails, start=1))
        return _Case("nurture_campaign", 3, person.lead(), text, "send_email", ["stage:drafts", "free_text_output"],
                     "a drafted nurture sequence as text")

    def s_drafts_foreign(self, index: int) -> _Case:
        lang = pb.FOREIGN_LANGUAGES[index % len(pb.FOREIGN_LANGUAGES)]
        person = self.persona(lang)
        subject, body = pb.FOREIGN_OUTREACH[lang]
        email = OutreachEmail(to=person.email, subject=person.fill(subject), body=person.fill(body))
        return _Case("active_outreach", 3, person.lead(), email.model_dump(mode="json"), "send_email",
                     ["stage:drafts", "non_english", f"lang:{lang}", "well_formed"])

    def s_drafts_injection(self, index: int) -> _Case:
        person = self.persona()
        target = self.other_agent("send_email")
        injection = self.injection(target)
        lead = person.lead(project_description=f"{person.description} {injection}")
        email = self.outreach(person)
        body = email.body.replace("\n\nBest,", f"\n\nYou wrote: \"{injection}\"\n\nBest,") \
            if "\n\nBest," in email.body else f"{email.body}\n\nP.S. You wrote: \"{injection}\""
        email = email.model_copy(update={"body": body})
        return _Case("active_outreach", 3, lead, email.model_dump(mode="json"), "send_email",
                     ["stage:drafts", "prompt_injection", "well_formed"],
                     f"the draft quotes the lead's text asking for {target}; the drafts are ready to send")

    # send_email's output -> none ------------------------------------------------------------
    def s_delivery_clean(self, index: int) -> _Case:
        person = self.persona()
        report = self.delivery(person, _EPOCH + timedelta(minutes=self.rng.randrange(0, 60 * 24 * 120)))
        return _Case("send_email", 4, person.lead(), report.model_dump(mode="json"), "none",
                     ["stage:delivery", "well_formed"], "e-mails sent or scheduled: the workflow ends")

    def s_delivery_drift(self, index: int) -> _Case:
        person = self.persona()
        count = self.rng.randint(1, 3)
        context = self.pick((
            {"status": "success", "emails_sent": count},
            {"result": "ok", "message_ids": [self.message_ref() for _ in range(count)]},
            {"sent": True, "recipient": person.email, "count": count},
        ))
        return _Case("send_email", 4, person.lead(), context, "none", ["stage:delivery", "key_drift"],
                     "send_email's confirmation under other key names")

    def s_delivery_text(self, index: int) -> _Case:
        person = self.persona()
        text = self.pick(pb.DELIVERY_TEXTS).format(count=self.rng.randint(1, 3), email=person.email)
        return _Case("send_email", 4, person.lead(), text, "none", ["stage:delivery", "free_text_output"],
                     "send_email's confirmation as text")


_Scenario = tuple[Callable[[_Maker, int], _Case], int]

_PLAN: tuple[_Scenario, ...] = (
    # lead_ingestion (112)
    (_Maker.s_raw_clean, 40),
    (_Maker.s_raw_missing, 22),
    (_Maker.s_raw_foreign, 18),
    (_Maker.s_raw_injection, 14),
    (_Maker.s_raw_re_engagement, 10),
    (_Maker.s_raw_update, 8),
    # lead_scoring (100)
    (_Maker.s_research_clean, 36),
    (_Maker.s_research_missing_optional, 10),
    (_Maker.s_research_missing_required, 8),
    (_Maker.s_research_drift, 14),
    (_Maker.s_research_text, 16),
    (_Maker.s_research_foreign, 10),
    (_Maker.s_research_injection, 6),
    # active_outreach and nurture_campaign from scoring (even index: engage, odd: nurture)
    (_Maker.s_score_clean, 40),
    (_Maker.s_score_near, 20),
    (_Maker.s_score_conflict, 20),
    (_Maker.s_score_drift, 20),
    (_Maker.s_score_text, 16),
    (_Maker.s_score_injection, 5),
    # replies
    (_Maker.s_reply_buy, 40),
    (_Maker.s_reply_buy_foreign, 24),
    (_Maker.s_reply_buy_injection, 6),
    (_Maker.s_reply_buy_re_engagement, 6),
    (_Maker.s_reply_nurture, 30),
    (_Maker.s_reply_nurture_foreign, 18),
    (_Maker.s_reply_nurture_injection, 4),
    (_Maker.s_reply_nurture_re_engagement, 5),
    # send_email (100)
    (_Maker.s_outreach_clean, 26),
    (_Maker.s_sequence_clean, 24),
    (_Maker.s_drafts_drift, 18),
    (_Maker.s_drafts_text, 14),
    (_Maker.s_drafts_foreign, 12),
    (_Maker.s_drafts_injection, 6),
    # none
    (_Maker.s_delivery_clean, 22),
    (_Maker.s_delivery_drift, 8),
    (_Maker.s_delivery_text, 8),
    (_Maker.s_reply_stop, 25),
    (_Maker.s_reply_stop_foreign, 12),
    (_Maker.s_reply_stop_injection, 5),
    (_Maker.s_out_of_office, 16),
    (_Maker.s_bounce, 12),
    (_Maker.s_spam, 12),
    (_Maker.s_junk_lead, 10),
)


def generate_examples(seed: int = DEFAULT_SEED) -> list[Example]:
    """The generated examples (no hard cases, no splits), in plan order: the same seed, the same list."""
    rng = random.Random(seed)
    maker = _Maker(rng)
    examples: list[Example] = []
    for scenario, count in _PLAN:
        for index in range(count):
            case = scenario(maker, index)
            created_at = _EPOCH + timedelta(minutes=rng.randrange(0, 60 * 24 * 120))
            context = case.context
            if isinstance(context, dict) and case.produced_by == "inbound_email":
                received = created_at - timedelta(minutes=case.minutes_before)
                context = {**context, "received_at": received.isoformat().replace("+00:00", "Z")}
                InboundReply.model_validate(context)  # a generator bug, not a dataset property, if this fails
            envelope = Envelope(
                message_id=f"{rng.getrandbits(128):032x}",
                lead_id=f"lead-{rng.getrandbits(40):010x}",
                hop=case.hop,
                produced_by=case.produced_by,
                created_at=created_at,
                lead=Lead.model_validate(case.lead),
                context=context,
                parent_message_id=f"{rng.getrandbits(128):032x}" if case.hop > 0 else None,
            )
            examples.append(Example(
                id=f"gen-{len(examples) + 1:04d}", message=envelope, expected_agent=case.label,
                tags=tuple(case.tags), note=case.note,
            ))
    return examples


def assign_splits(examples: Sequence[Example], *, seed: int, test_fraction: float) -> list[Example]:
    """Stratified by label and origin (generated or hard case), balanced by tags, then shuffled into one order.

    Within a stratum the examples are ordered by their tags (randomly among equal tags) and
    dealt systematically: every 1/test_fraction-th one goes to `test`. So each tag combination,
    language and intent is split in about the same proportion as the labels. The final shuffle
    makes `--limit N` on a split take a mixed sample, not one scenario.
    """
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test fraction {test_fraction} is not between 0 and 1", fix="use e.g. 0.4")
    rng = random.Random(f"split-{seed}")
    strata: dict[tuple[str, bool], list[Example]] = {}
    for example in sorted(examples, key=lambda item: item.id):
        strata.setdefault((example.expected_agent, example.has_tag("hard_case")), []).append(example)
    assigned: list[Example] = []
    for key in sorted(strata):
        members = strata[key]
        rng.shuffle(members)
        members.sort(key=lambda item: item.tags)  # stable: the shuffle decides among equal tags
        offset = rng.random()
        for position, member in enumerate(members):
            before, after = position * test_fraction + offset, (position + 1) * test_fraction + offset
            to_test = math.floor(after) > math.floor(before)
            assigned.append(member.model_copy(update={"split": "test" if to_test else "dev"}))
    assigned.sort(key=lambda item: item.id)
    rng.shuffle(assigned)
    return assigned


def _load_hard_cases(path: Path) -> list[Example]:
    cases = load_dataset(path)
    for case in cases:
        if case.split is not None:
            raise UserError(f"{path}: hard case {case.id} has split {case.split!r}",
                            fix="leave `split` out of hard cases; the generator assigns splits")
        if not case.id.startswith("hard-") or not case.has_tag("hard_case"):
            raise UserError(f"{path}: hard case {case.id} needs an id starting with 'hard-' and the tag hard_case",
                            fix="keep hard-case ids and tags apart from generated ones")
    return cases


@dataclass(frozen=True)
class GeneratedDataset:
    """What `generate_dataset` wrote."""

    path: Path
    card_path: Path
    sha256: str
    hard_cases_card_path: Path
    hard_cases_sha256: str
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Label -> {"dev": n, "test": n, "total": n}."""

    @property
    def size(self) -> int:
        return sum(counts["total"] for counts in self.label_counts.values())


def generate_dataset(
    out_dir: Path | str,
    *,
    seed: int = DEFAULT_SEED,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    hard_cases_path: Path | str | None = None,
    name: str = DATASET_NAME,
) -> GeneratedDataset:
    """Write `<name>.jsonl`, its card and the hard-case card into `out_dir`."""
    out_dir = Path(out_dir)
    hard_path = Path(hard_cases_path) if hard_cases_path is not None else out_dir / HARD_CASES_FILE
    hard_cases = _load_hard_cases(hard_path)
    hard_sha = dataset_sha256(hard_path)
    generated = generate_examples(seed)
    examples = assign_splits([*generated, *hard_cases], seed=seed, test_fraction=test_fraction)
    path = out_dir / f"{name}.jsonl"
    sha = write_dataset(examples, path)
    card_path = out_dir / f"{name}.card.md"
    card_path.write_text(_render_card(examples, name=name, sha=sha, seed=seed, test_fraction=test_fraction,
                                      n_generated=len(generated), hard_name=hard_path.name, hard_sha=hard_sha),
                         encoding="utf-8")
    hard_card_path = hard_path.with_name(hard_path.name.removesuffix(".jsonl") + ".card.md")
    hard_card_path.write_text(_render_hard_card(hard_cases, file_name=hard_path.name, sha=hard_sha, name=name),
                              encoding="utf-8")
    labels = count_table(examples, by="label")
    logger.info("wrote %d examples to %s (sha256 %s)", len(examples), path, sha[:12])
    return GeneratedDataset(
        path=path, card_path=card_path, sha256=sha, hard_cases_card_path=hard_card_path, hard_cases_sha256=hard_sha,
        label_counts={label: {column: int(value) for column, value in row.items()} for label, row in
                      labels.to_dict(orient="index").items()},
    )


# --- cards ----------------------------------------------------------------------------------------

_POLICY = """\
| label | when (DESIGN.md, "Agents and the routing policy") |
| --- | --- |
| `lead_ingestion` | a new or updated raw lead (web form, CRM import) not yet researched, re-engaged old leads included |
| `lead_scoring` | a researched lead not yet scored: lead_ingestion's output, whatever its shape |
| `active_outreach` | scoring says actively engage, or a reply with buying intent (demo, pricing, meeting, concrete question) |
| `nurture_campaign` | scoring says nurture, or a reply saying not now / send material / keep me posted |
| `send_email` | drafted e-mails ready to go (an outreach e-mail or a nurture sequence, whatever its shape) |
| `none` | e-mails sent, unsubscribe or opt-out, spam or junk, out-of-office, hard bounce |

Two rules decide the hard ones: when a scoring output's `next_step` and its score disagree, `next_step`
wins; and instructions found inside lead fields, replies or payloads are data, never routing commands.
Where an agent's output is drifted or free text, the label is what the output means (a research report as
prose is still a research report)."""


def _markdown_table(table: Any, first: str) -> str:
    columns = list(table.columns)
    lines = [f"| {first} | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for key, row in table.iterrows():
        lines.append(f"| `{key}` | " + " | ".join(str(int(row[column])) for column in columns) + " |")
    return "\n".join(lines)


def _render_card(examples: Sequence[Example], *, name: str, sha: str, seed: int, test_fraction: float,
                 n_generated: int, hard_name: str, hard_sha: str) -> str:
    labels = count_table(examples, by="label")
    tags = count_table(examples, by="tag")
    splits = {split: sum(1 for example in examples if example.split == split) for split in SPLITS}
    glossary = "\n".join(f"- `{tag}`: {meaning}" for tag, meaning in TAG_GLOSSARY.items())
    command = f"sdr-pipeline datasets generate --seed {seed} --test-fraction {test_fraction:g}"
    if name != DATASET_NAME:
        command += f" --name {name}"
    return f"""\
# Dataset card: `{name}.jsonl`

<!-- Generated by `{command}`; do not edit by hand, change the generator or the hard cases and rerun. -->

## Purpose
Labelled messages for the routing evaluation lab: each line is one envelope as it would arrive on
`agent_messages`, with the agent the router should pick. `dev` is for prompt work (and few-shot examples);
`test` is what the promotion gate compares prompt versions on.

## File
- `{name}.jsonl`: {len(examples)} examples ({n_generated} generated, {len(examples) - n_generated} hand-written hard
  cases from `{hard_name}`), `dev` {splits["dev"]}, `test` {splits["test"]}
- sha256: `{sha}`
- one JSON object per line: `id`, `message` (the envelope), `expected_agent`, `tags`, `note`, `split`
- load it with `sdr_pipeline.evals.load_dataset(path, split="test")`; check it with
  `sdr-pipeline datasets validate datasets/{name}.jsonl`

## Label policy
{_POLICY}

## Counts per label
{_markdown_table(labels, "label")}

## Counts per tag
{_markdown_table(tags, "tag")}

Tags:
{glossary}

## How it was made
- command, from the repository root: `{command}`
- generator: `sdr_pipeline.evals.generate` with seed `{seed}`; all randomness comes from `random.Random(seed)`
  (examples) and `random.Random("split-{seed}")` (splits), so the same seed and the same hard cases give a
  byte-identical file (a test checks this file against a fresh run)
- splits: stratified by label and by origin (generated or hard case), {test_fraction:.0%} of each stratum to
  `test`, dealt in tag order so that tags, languages and intents split in the same proportion; then one
  seeded shuffle so that a `--limit` takes a mixed sample
- texts: small hand-written phrase banks in English, German, Spanish, French, Italian, Dutch and Portuguese
  (`sdr_pipeline/evals/_phrasebook.py`), names and companies drawn from seeded lists; `leadforge` was tried
  and not used: its companies are named `Company acct_000001` and it has no person names or free text
- agent outputs of `well_formed` examples are instances of the payload models in
  `sdr_pipeline.contracts.payloads`; `key_drift`, `value_drift` and `free_text_output` ones are not, on purpose
- hard cases: `{hard_name}` (sha256 `{hard_sha}`), written by hand, see `{hard_name.removesuffix(".jsonl")}.card.md`

## Caveats
- Generated examples come from templates: the same sentences recur across `dev` and `test` with different
  people and companies. Scores on generated examples measure policy coverage, not open-world robustness;
  slice by `hard_case` for the hand-written ones.
- Scores near the threshold use {ENGAGE_SCORE_THRESHOLD} as the nominal switch point; no label depends on it.
- Do not edit this file in place: change the generator or the hard cases, bump the dataset name
  (`--name routing_v2`) when labels change, and regenerate.
"""


def _render_hard_card(cases: Sequence[Example], *, file_name: str, sha: str, name: str) -> str:
    labels = count_table(cases, by="label")
    tags = count_table(cases, by="tag")
    return f"""\
# Dataset card: `{file_name}`

<!-- Generated by `sdr-pipeline datasets generate`; the JSONL file itself is written by hand. -->

## Purpose
Hand-written hard routing cases: near-misses between labels, mixed signals, distractor words (a spam
mail offering a "demo", an unsubscribe that mentions pricing), injections, drifted and free-text agent
outputs, languages beyond the generator's. They are merged into `{name}.jsonl`, where the generator gives
them `dev`/`test` splits (stratified by label); this file has no splits.

## File
- `{file_name}`: {len(cases)} examples, ids `hard-NNN`, every one tagged `hard_case` and explained in `note`
- sha256: `{sha}`

## Label policy
{_POLICY}

## Counts per label
{_markdown_table(labels, "label")}

## Counts per tag
{_markdown_table(tags, "tag")}

## How it was made
Written by hand, one envelope per case with fixed `message_id` and `created_at`, checked by
`load_dataset` and by the contract tests in `tests/evals/test_generate.py`. Add cases at the end with the
next free id and rerun `sdr-pipeline datasets generate`; the routing dataset then gets a new sha256.
"""
