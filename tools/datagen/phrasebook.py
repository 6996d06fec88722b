"""The generator's text banks (`phrasebook.yaml`) as one checked, read-only model.

The texts are data, kept in YAML so they can be read and extended without touching code; this model
is what makes a slip in them (a misspelt key, a language left out, a `{frist}` placeholder) fail on
load with the key's path, instead of as a `KeyError` deep in a generator run or a silently odd dataset.
The order of every list is part of the dataset's reproducibility (see the file's header).
"""

from __future__ import annotations

import difflib
import string
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from sdr_pipeline.contracts import Lead
from sdr_pipeline.contracts.parsing import first_problem
from sdr_pipeline.exceptions import UserError

__all__ = ["PHRASEBOOK_PATH", "Phrasebook", "load_phrasebook"]

PHRASEBOOK_PATH = Path(__file__).with_name("phrasebook.yaml")

PERSONA_FIELDS = frozenset({"first", "name", "initials", "company", "stem", "industry", "title", "email", "domain",
                            "city"})
"""What `Persona.fill` puts into every template it fills."""


def _check_template(text: str, *, allowed: frozenset[str]) -> str:
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as error:
        raise ValueError(f"not a str.format template ({error}); write a literal brace as {{{{ or }}}}") from None
    unknown = sorted(used - allowed)
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; a template here may use "
                         + ", ".join(f"{{{name}}}" for name in sorted(allowed)))
    return text


def _placeholders(*extra: str, persona: bool = True) -> AfterValidator:
    """Makes a `str` a `str.format` template that may only name the placeholders its caller fills."""
    allowed = frozenset(extra) | (PERSONA_FIELDS if persona else frozenset())
    return AfterValidator(partial(_check_template, allowed=allowed))


Text = Annotated[str, Field(min_length=1)]
Texts = Annotated[tuple[str, ...], Field(min_length=1)]
PersonaTemplate = Annotated[str, _placeholders()]
PersonaTemplates = Annotated[tuple[PersonaTemplate, ...], Field(min_length=1)]
UseCaseTemplate = Annotated[str, _placeholders("use_case")]
UseCaseTemplates = Annotated[tuple[UseCaseTemplate, ...], Field(min_length=1)]
SubjectTemplate = Annotated[str, _placeholders("subject")]
TargetTemplate = Annotated[str, _placeholders("target", persona=False)]
"""An injection: `{target}` is the agent it tries to force."""
OldMonthTemplate = Annotated[str, _placeholders("old_month", persona=False)]
ReportTemplate = Annotated[str, _placeholders("size", "summary_tail", "use_case_1", "use_case_2", "fit")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Industry(_Strict):
    company_word: Text
    """Goes into the company's name: `Northwind Logistics Inc.`."""
    industry: Text
    """How a research profile writes it."""


class Country(_Strict):
    tld: Text
    legal_suffixes: Texts


class SizeBand(_Strict):
    employees: Text
    """The profile's `size_estimate`."""
    word: Text
    """How a company summary says it (`small`, `large`)."""


class Draft(_Strict):
    subject: PersonaTemplate
    body: PersonaTemplate


class Intents(_Strict):
    """Reply intents by what they lead to: buy → active_outreach, nurture → nurture_campaign, stop → none."""

    buy: Texts
    nurture: Texts
    stop: Texts

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.buy, *self.nurture, *self.stop)

    def group(self, intent: str) -> str:
        return "buy" if intent in self.buy else "nurture" if intent in self.nurture else "stop"


class Register(_Strict):
    """One phrase in a friendly and in a formal register."""

    friendly: str
    formal: str


class ForeignClosers(_Strict):
    friendly: PersonaTemplate
    formal: PersonaTemplate


class AutoReply(_Strict):
    subject_prefix: Text
    body: Annotated[str, _placeholders("date", "colleague", persona=False)]


class Bounce(_Strict):
    sender: PersonaTemplate
    subject: SubjectTemplate
    body: SubjectTemplate


class Spam(_Strict):
    sender: Text
    subject: Text
    body: Text


_PER_LANGUAGE = ("first_names", "last_names", "countries", "job_titles", "project_descriptions", "cities",
                 "reply_subject_prefixes", "out_of_office")
_PER_FOREIGN_LANGUAGE = ("foreign_summaries", "foreign_fits", "foreign_outreach", "foreign_reply_cores",
                         "foreign_greetings", "foreign_closers", "foreign_injections")


class Phrasebook(_Strict):
    """Every text bank the generator draws from; field names are the YAML keys."""

    languages: Texts
    first_names: dict[str, Texts]
    last_names: dict[str, Texts]
    company_stems: Texts
    industries: Annotated[tuple[Industry, ...], Field(min_length=1)]
    countries: dict[str, Country]
    personal_email_domains: Texts
    job_titles: dict[str, Texts]
    lead_sources: Texts
    project_descriptions: dict[str, Texts]
    size_bands: Annotated[tuple[SizeBand, ...], Field(min_length=1)]
    company_summaries: Annotated[tuple[Annotated[str, _placeholders("size_word")], ...], Field(min_length=1)]
    cities: dict[str, Texts]
    fit_assessments: Texts
    use_cases: Annotated[tuple[str, ...], Field(min_length=2)]
    foreign_summaries: dict[str, PersonaTemplate]
    foreign_fits: dict[str, Text]
    research_report_texts: Annotated[tuple[ReportTemplate, ...], Field(min_length=1)]
    talking_points: Annotated[tuple[PersonaTemplate, ...], Field(min_length=3)]
    engage_rationales: Texts
    nurture_rationales: Texts
    conflict_engage_rationales: Texts
    conflict_nurture_rationales: Texts
    engage_words: Annotated[tuple[str, ...], Field(min_length=3)]
    nurture_words: Annotated[tuple[str, ...], Field(min_length=3)]
    outreach_subjects: UseCaseTemplates
    outreach_bodies: UseCaseTemplates
    nurture_subjects: Annotated[tuple[tuple[UseCaseTemplate, UseCaseTemplate, UseCaseTemplate], ...],
                                Field(min_length=1)]
    nurture_body: Annotated[str, _placeholders("lead_in")]
    nurture_lead_ins: UseCaseTemplates
    offset_plans: Annotated[tuple[tuple[int, int, int], ...], Field(min_length=1)]
    foreign_outreach: dict[str, Draft]
    intents: Intents
    tones: Texts
    reply_cores: dict[str, Texts]
    terse_cores: dict[str, Texts]
    tone_openers: dict[str, dict[str, Texts]]
    tone_closers: dict[str, PersonaTemplates]
    tone_greetings: dict[str, Texts]
    foreign_reply_cores: dict[str, dict[str, Text]]
    foreign_greetings: dict[str, Register]
    foreign_closers: dict[str, ForeignClosers]
    reply_subject_prefixes: dict[str, str]
    re_engagement_openers: Annotated[tuple[OldMonthTemplate, ...], Field(min_length=1)]
    re_engagement_crm_notes: Annotated[tuple[OldMonthTemplate, ...], Field(min_length=1)]
    lead_update_notes: Annotated[tuple[Annotated[str, _placeholders("old_title", "title", persona=False)], ...],
                                 Field(min_length=1)]
    old_months: Texts
    out_of_office: dict[str, Annotated[tuple[AutoReply, ...], Field(min_length=1)]]
    bounces: Annotated[tuple[Bounce, ...], Field(min_length=1)]
    bounce_quotes: Annotated[tuple[SubjectTemplate, ...], Field(min_length=1)]
    spam: Annotated[tuple[Spam, ...], Field(min_length=1)]
    junk_leads: Annotated[tuple[dict[str, str | None], ...], Field(min_length=1)]
    injections: Annotated[tuple[TargetTemplate, ...], Field(min_length=1)]
    foreign_injections: dict[str, TargetTemplate]
    delivery_texts: Annotated[tuple[Annotated[str, _placeholders("count", "email", persona=False)], ...],
                              Field(min_length=1)]

    @property
    def foreign_languages(self) -> tuple[str, ...]:
        return self.languages[1:]

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """A misspelt key is named with its likely spelling, before pydantic reports the real one missing."""
        if isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields:
                    close = difflib.get_close_matches(str(key), cls.model_fields, n=1)
                    raise ValueError(f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return data

    @model_validator(mode="after")
    def _complete(self) -> Phrasebook:
        """Every language, intent and tone the generator can ask for has its entry in each bank."""
        if self.languages[0] != "en":
            raise ValueError("languages: `en` must come first (the others are the non-English ones)")
        _same_keys(self, _PER_LANGUAGE, self.languages, "language")
        _same_keys(self, _PER_FOREIGN_LANGUAGE, self.foreign_languages, "language")
        _same_keys(self, ("reply_cores", "terse_cores"), self.intents.all, "intent")
        for lang, cores in self.foreign_reply_cores.items():
            _check_keys(f"foreign_reply_cores.{lang}", cores, self.intents.all, "intent")
        _same_keys(self, ("tone_closers", "tone_greetings"), self.tones, "tone")
        for tone, groups in self.tone_openers.items():
            if tone not in self.tones:
                raise ValueError(f"tone_openers: unknown tone {tone!r}; tones are {', '.join(self.tones)}")
            unknown = sorted(set(groups) - {"buy", "nurture", "stop"})
            if unknown:
                raise ValueError(f"tone_openers.{tone}: unknown intent group {unknown[0]!r}; use buy, nurture, stop")
        for position, lead in enumerate(self.junk_leads):
            unknown = [key for key in lead if key not in Lead.model_fields]
            if unknown:
                raise ValueError(f"junk_leads.{position}: unknown lead field {unknown[0]!r}; lead fields are "
                                 + ", ".join(Lead.model_fields))
        return self


def _same_keys(book: Phrasebook, fields: tuple[str, ...], expected: tuple[str, ...], what: str) -> None:
    for name in fields:
        _check_keys(name, getattr(book, name), expected, what)


def _check_keys(where: str, mapping: dict[str, Any], expected: tuple[str, ...], what: str) -> None:
    missing = [key for key in expected if key not in mapping]
    if missing:
        raise ValueError(f"{where}: no entry for {what} {missing[0]!r}")
    unknown = [key for key in mapping if key not in expected]
    if unknown:
        raise ValueError(f"{where}: unknown {what} {unknown[0]!r}; expected {', '.join(expected)}")


def load_phrasebook(path: Path | str = PHRASEBOOK_PATH) -> Phrasebook:
    """The phrasebook at `path`, checked; any problem is a UserError naming the file and the key."""
    path = Path(path)
    fix = "correct that key in the phrasebook (the file's header says how it is laid out)"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"phrasebook {path} does not exist",
                        fix="pass the path of tools/datagen/phrasebook.yaml") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML ({error})", fix="fix the YAML syntax at that line") from None
    try:
        return Phrasebook.model_validate(data)
    except ValidationError as error:
        field, problem = first_problem(error)
        raise UserError(f"{path}: {field + ': ' if field else ''}{problem}", fix=fix) from None
