"""Agent payloads and agent input contracts, with the helpers every producer and consumer uses.

Two kinds of contract live here, each with a name and a version:

- a *payload* contract validates an envelope's `context`: what an agent writes
  (`research_profile`, `lead_score`, `outreach_email`, `nurture_sequence`, `delivery_report`),
  plus `inbound_reply` (what intake writes for a prospect's reply) and `lead_submission`
  (what the intake form and JSON endpoint accept);
- an *envelope* contract validates a whole envelope an agent is willing to take
  (`raw_lead`, `researched_lead`, `engage_ready_lead`, `nurture_ready_lead`, `drafted_emails`).
  The router's `contract` policy drops every agent whose input contract rejects a message,
  so these encode the routing policy of DESIGN.md as far as structure can tell.

Extra fields are tolerated everywhere; a missing or mistyped required field is rejected
with a `ContractError` naming the field path and the contract version.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from sdr_pipeline.contracts.envelope import ENVELOPE_VERSION, Envelope, utc_now
from sdr_pipeline.contracts.parsing import first_problem
from sdr_pipeline.contracts.signing import digest, matches
from sdr_pipeline.exceptions import ContractError

__all__ = [
    "CONTRACTS",
    "PAYLOAD_VERSION",
    "RAW_LEAD_SOURCES",
    "ActiveOutreachInput",
    "AgentResponse",
    "ContractSpec",
    "Delivery",
    "DeliveryReport",
    "InboundReply",
    "LeadAddresses",
    "LeadIngestionInput",
    "LeadScore",
    "LeadScoringInput",
    "LeadSubmission",
    "NextStep",
    "NurtureCampaignInput",
    "NurtureEmail",
    "NurtureSequence",
    "OutreachEmail",
    "ResearchProfile",
    "SendEmailInput",
    "WorkflowFinishedInput",
    "check_envelope",
    "contract_schema",
    "default_schemas_dir",
    "email_message_id",
    "export_schemas",
    "get_contract",
    "parse_input",
    "thread_from_email_message_id",
    "validate_payload",
]

PAYLOAD_VERSION = "1"
"""Version of every contract in this module; bump it (and re-export the schemas) on a breaking change."""

RAW_LEAD_SOURCES: tuple[str, ...] = ("web_form", "crm_import")
"""`produced_by` values of a raw lead that nobody has researched yet."""

INBOUND_EMAIL = "inbound_email"

NextStep = Literal["actively_engage", "nurture"]

_EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

_LINE_BREAK_NAMES = {"\r": "carriage return", "\n": "line feed"}


def _one_line(value: Any) -> Any:
    """An e-mail header value must stay one line: after a line break (CR, LF, U+2028, U+0085, ...) the rest
    would become headers of its own (Bcc: injection) or make the mail unsendable. Tabs are allowed."""
    if not isinstance(value, str):
        return value
    for position, char in enumerate(value):
        if char != "\t" and unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            label = _LINE_BREAK_NAMES.get(char) or unicodedata.name(char, "a control character").lower()
            raise ValueError(f"an e-mail header must be one line of text, but it holds U+{ord(char):04X} "
                             f"({label}) at position {position}; remove line breaks and control characters")
    return value


_HeaderText = Annotated[str, BeforeValidator(_one_line)]
"""Text that ends up in an e-mail header (subject, address, name, Message-ID): one line, no control characters."""


class _Payload(BaseModel):
    """Base of every payload: unknown fields are kept, not rejected."""

    model_config = ConfigDict(extra="allow")


# --- payloads (an envelope's context) --------------------------------------------------------


class ResearchProfile(_Payload):
    """lead_ingestion's output: what we learnt about the lead's company and how well it fits."""

    company_summary: str = Field(min_length=1)
    """Two or three sentences on what the company does."""
    industry: str = Field(min_length=1)
    """Industry or market, in plain words."""
    fit_assessment: str = Field(min_length=1)
    """Why the company is or is not a good fit for our product."""
    size_estimate: str = "unknown"
    """Head-count band, e.g. `51-200 employees`, or `unknown`."""
    likely_use_cases: list[str] = Field(default_factory=list)
    """What they would most likely use the product for."""
    company_name: str | None = None
    sources: list[str] = Field(default_factory=list)
    """Where the facts came from (`crm_fixture`, `enrichment_fixture`, the website URL)."""


class LeadScore(_Payload):
    """lead_scoring's output; `next_step` decides the route, even when the score seems to disagree."""

    score: int = Field(ge=0, le=100)
    """0 (no fit) to 100 (ideal, ready to buy)."""
    next_step: NextStep
    """`actively_engage` goes to active_outreach, `nurture` to nurture_campaign."""
    talking_points: list[str] = Field(default_factory=list)
    """Points a seller should raise, grounded in the profile."""
    rationale: str = ""
    """One or two sentences on why this score."""
    profile: ResearchProfile | None = None
    """The research profile the score is based on, carried forward for the e-mail writers."""


class OutreachEmail(_Payload):
    """active_outreach's output: one personalised e-mail, ready to send."""

    to: _HeaderText = Field(pattern=_EMAIL_PATTERN)
    """Recipient: the lead's own address, never an invented one."""
    subject: _HeaderText = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1)
    """Plain text; no links that were not in the lead or its profile."""
    in_reply_to: _HeaderText | None = None
    """Message-ID of the prospect's e-mail this answers, if it is a reply."""


class NurtureEmail(_Payload):
    """One e-mail of a nurture sequence."""

    subject: _HeaderText = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1)
    send_offset_days: int = Field(ge=0, le=365)
    """Days after the sequence starts; the first e-mail is usually 0."""


class NurtureSequence(_Payload):
    """nurture_campaign's output: a three-e-mail sequence to one recipient."""

    to: _HeaderText = Field(pattern=_EMAIL_PATTERN)
    emails: list[NurtureEmail] = Field(min_length=3, max_length=3)
    """Exactly three e-mails, in send order."""

    @field_validator("emails")
    @classmethod
    def _offsets_ascend(cls, emails: list[NurtureEmail]) -> list[NurtureEmail]:
        offsets = [email.send_offset_days for email in emails]
        if offsets != sorted(offsets):
            raise ValueError(f"send_offset_days must not decrease along the sequence, got {offsets}")
        return emails


class Delivery(_Payload):
    """What happened to one drafted e-mail."""

    index: int = Field(ge=0)
    """Position of the e-mail in the drafted list (0 for a single e-mail)."""
    to: _HeaderText
    subject: _HeaderText
    status: Literal["sent", "scheduled", "cancelled"]
    """`cancelled`: not sent on purpose (the recipient opted out or bounced, or the lead stopped); see `note`."""
    send_at: datetime
    """When it was sent, or when it is (or was) due."""
    smtp_message_id: _HeaderText | None = None
    """The Message-ID header we sent it with."""
    note: str | None = Field(default=None, exclude_if=lambda value: value is None)
    """Why a cancelled e-mail was not sent (left out when there is none, so a v1 report reads as before)."""


class DeliveryReport(_Payload):
    """send_email's output: the sent/scheduled confirmation; a workflow normally stops here."""

    deliveries: list[Delivery] = Field(min_length=1)
    sent_count: int = Field(ge=0)
    scheduled_count: int = Field(ge=0)
    cancelled_count: int = Field(default=0, ge=0, exclude_if=lambda value: value == 0)
    """E-mails not sent on purpose (opt-out, bounce, stopped lead); left out when none, as a v1 report."""


class InboundReply(_Payload):
    """A prospect's e-mail reply: the inbound webhook's body (`from`, `to`, `subject`, `body`,
    `in_reply_to`, `message_id`) and, under these field names, the context intake writes."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    from_address: _HeaderText = Field(pattern=_EMAIL_PATTERN, max_length=320,
                                      validation_alias=AliasChoices("from_address", "from"))
    to_address: _HeaderText = Field(default="", max_length=320, validation_alias=AliasChoices("to_address", "to"))
    subject: _HeaderText = Field(default="", max_length=500)
    body: str = Field(min_length=1, max_length=50_000)
    in_reply_to: _HeaderText | None = Field(default=None, max_length=1000,
                                            validation_alias=AliasChoices("in_reply_to", "in-reply-to"))
    """Message-ID of our e-mail it answers; how intake finds the lead."""
    reply_message_id: _HeaderText | None = Field(default=None, max_length=1000,
                                                 validation_alias=AliasChoices("reply_message_id", "message_id"))
    """The reply's own Message-ID, so our answer threads under it."""
    received_at: datetime = Field(default_factory=utc_now)


class LeadSubmission(_Payload):
    """A lead typed into the intake form or posted to the JSON endpoint."""

    name: _HeaderText = Field(min_length=1, max_length=200)
    email: _HeaderText = Field(pattern=_EMAIL_PATTERN, max_length=320)
    company_name: str = Field(min_length=1, max_length=200)
    company_website: str | None = Field(default=None, max_length=2048)
    job_title: str | None = Field(default=None, max_length=200)
    project_description: str | None = Field(default=None, max_length=5000)
    lead_source: str = Field(default="web_form", max_length=100)

    @field_validator("name", "company_name", "email", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("company_website", "job_title", "project_description", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("company_website")
    @classmethod
    def _website_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" not in value:
            value = f"https://{value}"
        if not value.lower().startswith(("http://", "https://")) or "." not in value.split("://", 1)[1]:
            raise ValueError("must be an http(s) address such as https://example.com")
        return value


class AgentResponse(BaseModel):
    """What an agent endpoint answers with 2xx, once its output envelope is on agent_messages."""

    model_config = ConfigDict(extra="allow")

    agent: str
    message_id: str
    """The input envelope's id (the idempotency key)."""
    lead_id: str
    output: Envelope
    """The envelope the agent published (hop + 1, produced_by = agent)."""
    replayed: bool = False
    """True when this is the stored answer to an earlier POST of the same message id."""
    duration_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


# --- e-mail Message-IDs that lead back to the lead, signed -------------------------------------

_THREAD = re.compile(r"^[0-9a-f]{20}$")
_OUR_LOCAL = re.compile(r"^sdr\.([0-9a-f]{20})\.([0-9a-f]{16})\.(\d{1,4})\.([0-9a-f]{24})$")
_MESSAGE_ID_SCOPE = "email-message-id"


def _message_id_mac(secret: str, local: str) -> str:
    return digest(secret, f"{_MESSAGE_ID_SCOPE}\n{local}".encode())[:24]


def email_message_id(*, thread: str, message_id: str, index: int, domain: str, secret: str) -> str:
    """The Message-ID header of e-mail `index` drafted in envelope `message_id`: deterministic (a replay sends the
    very same id), carrying the lead's opaque `thread` token (never the lead id) and an HMAC under `secret`, so
    intake trusts a reply's In-Reply-To only when we made it."""
    if not _THREAD.match(thread):
        raise ValueError(f"thread token {thread!r} is not 20 lower-case hex characters (intake makes them)")
    nonce = hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:16]
    local = f"sdr.{thread}.{nonce}.{index}"
    return f"<{local}.{_message_id_mac(secret, local)}@{domain}>"


def thread_from_email_message_id(value: str, secret: str) -> str | None:
    """The thread token of the first of our Message-IDs in `value` (an In-Reply-To or References header, which
    may hold several ids) whose HMAC verifies under `secret`; None if none is ours, or none verifies."""
    if not secret:
        return None
    candidates = re.findall(r"<([^<>\s]+)>", value) or [value.strip()]
    for candidate in candidates[:20]:
        local, _, _domain = candidate.partition("@")
        found = _OUR_LOCAL.match(local)
        if found and matches(_message_id_mac(secret, local.rsplit(".", 1)[0]), found.group(4)):
            return found.group(1)
    return None


class LeadAddresses(BaseModel):
    """Intake's answer to `GET /internal/leads/{lead_id}`: the only addresses send_email may write to for a lead."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    lead_id: str
    email: str | None = None
    """The address the lead gave at intake (web form, JSON endpoint) or a CRM import wrote to incoming_leads."""
    reply_addresses: tuple[str, ...] = ()
    """Colleagues at the lead's own domain who answered one of our e-mails (their In-Reply-To verified)."""
    thread: str = Field(pattern=r"^[0-9a-f]{20}$")
    """The lead's opaque token in our Message-IDs, so a reply finds its lead without the lead id in clear."""

    def allows(self, address: str) -> bool:
        """True when `address` (case aside) is the lead's own address or a verified reply address."""
        wanted = address.strip().lower()
        return bool(wanted) and wanted in {known.strip().lower() for known in (self.email, *self.reply_addresses)
                                           if known}


# --- envelope contracts (what an agent accepts) -----------------------------------------------
# Tags of the tagged unions below; they are stripped from error paths so reasons read
# `context.next_step`, not `context.lead_score.next_step`.
_TAG_LEAD_SCORE = "lead_score"
_TAG_REPLY = "inbound_reply"
_TAG_REPLY_TEXT = "reply_text"
_TAG_SINGLE = "outreach_email"
_TAG_SEQUENCE = "nurture_sequence"
_UNION_TAGS = frozenset({_TAG_LEAD_SCORE, _TAG_REPLY, _TAG_REPLY_TEXT, _TAG_SINGLE, _TAG_SEQUENCE})


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _has(value: Any, name: str) -> bool:
    return (name in value) if isinstance(value, dict) else hasattr(value, name)


def _score_or_reply(value: Any) -> str | None:
    """Which kind of context this is: a scoring output, a reply object or reply text."""
    if isinstance(value, str):
        return _TAG_REPLY_TEXT
    if _has(value, "next_step") or _has(value, "score"):
        return _TAG_LEAD_SCORE
    if _has(value, "body") and (_has(value, "from_address") or _has(value, "from")):
        return _TAG_REPLY
    return None


def _drafted_kind(value: Any) -> str | None:
    if _has(value, "emails"):
        return _TAG_SEQUENCE
    if _has(value, "subject") and _has(value, "body"):
        return _TAG_SINGLE
    return None


class _EngageScore(LeadScore):
    next_step: Literal["actively_engage"]


class _NurtureScore(LeadScore):
    next_step: Literal["nurture"]


def _reply_needs_inbound(context: Any, info: ValidationInfo) -> Any:
    """A reply (text or object) is only a reply when intake produced it."""
    if isinstance(context, (str, InboundReply)) and info.data.get("produced_by") != INBOUND_EMAIL:
        raise ValueError(f"a reply must have produced_by '{INBOUND_EMAIL}', got '{info.data.get('produced_by')}'")
    if isinstance(context, str) and not context.strip():
        raise ValueError("the reply text is empty")
    return context


_SCORE_OR_REPLY_ERROR = "expected a lead_score (score, next_step) or an inbound reply (text or from_address + body)"


class LeadIngestionInput(Envelope):
    """A new or updated raw lead from the web form or a CRM import, not researched yet."""

    produced_by: Literal["web_form", "crm_import"]
    context: str | dict[str, Any] | None = None
    """Free-text note or raw fields of an update; never a research profile."""

    @field_validator("lead")
    @classmethod
    def _lead_identifiable(cls, lead: Any) -> Any:
        if not any(_field(lead, name) for name in ("email", "company_name", "company_website", "name")):
            raise ValueError("a raw lead needs at least one of email, company_name, company_website, name")
        return lead

    @field_validator("context")
    @classmethod
    def _not_researched(cls, context: Any) -> Any:
        if isinstance(context, dict):
            try:
                ResearchProfile.model_validate(context)
            except ValidationError:
                return context
            raise ValueError("already holds a research profile: the lead is researched (lead_scoring's input)")
        return context


class LeadScoringInput(Envelope):
    """A researched lead not yet scored: the context is a research profile."""

    context: ResearchProfile


def _score_or_reply_context(score: type[BaseModel]) -> Any:
    """The context of an agent that takes a scoring output of one kind or a prospect's reply."""
    return Annotated[
        Annotated[score, Tag(_TAG_LEAD_SCORE)]
        | Annotated[InboundReply, Tag(_TAG_REPLY)]
        | Annotated[str, Tag(_TAG_REPLY_TEXT)],
        Discriminator(_score_or_reply, custom_error_type="context_kind", custom_error_message=_SCORE_OR_REPLY_ERROR),
    ]


class _ScoreOrReplyInput(Envelope):
    """A reply is only a reply when an inbound e-mail produced it."""

    _reply_from_inbound = field_validator("context", check_fields=False)(_reply_needs_inbound)


class ActiveOutreachInput(_ScoreOrReplyInput):
    """A scoring output saying actively_engage, or a prospect's reply (intent is judged by the router)."""

    context: _score_or_reply_context(_EngageScore)  # type: ignore[valid-type]


class NurtureCampaignInput(_ScoreOrReplyInput):
    """A scoring output saying nurture, or a prospect's reply (intent is judged by the router)."""

    context: _score_or_reply_context(_NurtureScore)  # type: ignore[valid-type]


class SendEmailInput(Envelope):
    """Drafted e-mails ready to go: an outreach e-mail or a nurture sequence."""

    context: Annotated[
        Annotated[OutreachEmail, Tag(_TAG_SINGLE)] | Annotated[NurtureSequence, Tag(_TAG_SEQUENCE)],
        Discriminator(
            _drafted_kind, custom_error_type="context_kind",
            custom_error_message="expected drafted e-mails: an outreach_email (to, subject, body) "
                                 "or a nurture_sequence (to, emails)",
        ),
    ]


class WorkflowFinishedInput(Envelope):
    """A delivery report: the drafted e-mails were sent or scheduled, so the workflow is done.

    The registry gives this to `none` as its input contract, so the one ending that needs no
    model is declared as data: a message that satisfies it ends the lead with that reason.
    """

    context: DeliveryReport


# --- the contract table ---------------------------------------------------------------------


@dataclass(frozen=True)
class ContractSpec:
    """One named, versioned contract."""

    name: str
    version: str
    model: type[BaseModel]
    kind: Literal["payload", "envelope"]
    """`payload` validates an envelope's context; `envelope` validates a whole envelope."""
    description: str

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def schema_id(self) -> str:
        """Stable id of the exported JSON Schema file."""
        return f"{self.name}.v{self.version}"


def _spec(name: str, model: type[BaseModel], kind: Literal["payload", "envelope"], description: str, *,
          version: str = PAYLOAD_VERSION) -> ContractSpec:
    return ContractSpec(name, version, model, kind, description)


CONTRACTS: Mapping[str, ContractSpec] = MappingProxyType({
    spec.name: spec for spec in (
        _spec("envelope", Envelope, "envelope", "any envelope on agent_messages", version=ENVELOPE_VERSION),
        _spec("raw_lead", LeadIngestionInput, "envelope",
              "a raw lead (produced_by web_form or crm_import, a new lead or an update) with no research profile"),
        _spec("researched_lead", LeadScoringInput, "envelope",
              "an envelope whose context is a research_profile"),
        _spec("engage_ready_lead", ActiveOutreachInput, "envelope",
              "a lead_score with next_step=actively_engage, or a prospect's reply (produced_by inbound_email)"),
        _spec("nurture_ready_lead", NurtureCampaignInput, "envelope",
              "a lead_score with next_step=nurture, or a prospect's reply (produced_by inbound_email)"),
        _spec("drafted_emails", SendEmailInput, "envelope",
              "an envelope whose context is an outreach_email or a nurture_sequence"),
        _spec("delivery_reported", WorkflowFinishedInput, "envelope",
              "an envelope whose context is a delivery_report: the e-mails went out, the workflow is done"),
        _spec("research_profile", ResearchProfile, "payload",
              "company summary, industry, size estimate, likely use cases, fit assessment"),
        _spec("lead_score", LeadScore, "payload", "score 0-100, next_step, talking points"),
        _spec("outreach_email", OutreachEmail, "payload", "one e-mail: to, subject, body"),
        _spec("nurture_sequence", NurtureSequence, "payload", "three e-mails with send offsets in days"),
        _spec("delivery_report", DeliveryReport, "payload", "which e-mails were sent or scheduled, and when"),
        _spec("inbound_reply", InboundReply, "payload", "a prospect's e-mail reply"),
        _spec("lead_submission", LeadSubmission, "payload", "a lead from the intake form or JSON endpoint"),
        _spec("agent_response", AgentResponse, "payload", "an agent endpoint's 2xx answer"),
    )
})
"""Every contract by name; the registry refers to these names."""


def get_contract(name: str) -> ContractSpec:
    try:
        return CONTRACTS[name]
    except KeyError:
        raise ContractError(name, f"unknown contract; known: {', '.join(sorted(CONTRACTS))}") from None


def contract_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one contract, with its id and version."""
    spec = get_contract(name)
    schema = spec.model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"sdr-pipeline/{spec.schema_id}.json",
        "x-contract": spec.name,
        "x-version": spec.version,
        "x-kind": spec.kind,
        "description": spec.description,
        **{key: value for key, value in schema.items() if key != "description"},
    }


def default_schemas_dir() -> Path:
    """Where the exported JSON Schema files live in the repository (next to this module)."""
    return Path(__file__).with_name("schemas")


def _schema_text(name: str) -> str:
    return json.dumps(contract_schema(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_schemas(directory: Path | None = None, *, check: bool = False) -> list[Path]:
    """Write `<name>.v<version>.json` for every contract; returns the files that were (or, with
    `check`, would be) changed, so a test can assert the committed schemas are up to date."""
    target = directory or default_schemas_dir()
    changed: list[Path] = []
    for name, spec in CONTRACTS.items():
        path = target / f"{spec.schema_id}.json"
        text = _schema_text(name)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        changed.append(path)
        if not check:
            target.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return changed


def _contract_error(spec: ContractSpec, error: ValidationError, data: Any) -> ContractError:
    """The first problem of a validation error, with the union tags removed from its path."""
    path, problem = first_problem(error, skip=_UNION_TAGS)
    ids = data if isinstance(data, dict) else {}
    return ContractError(
        spec.name, problem, field=path, version=spec.version,
        lead_id=ids.get("lead_id") if isinstance(ids.get("lead_id"), str) else None,
        message_id=ids.get("message_id") if isinstance(ids.get("message_id"), str) else None,
    )


def validate_payload(name: str, data: Any, *, lead_id: str | None = None, message_id: str | None = None) -> BaseModel:
    """Validate an envelope's context (or any payload) against payload contract `name`."""
    spec = get_contract(name)
    try:
        return spec.model.model_validate(data.model_dump() if isinstance(data, BaseModel) else data)
    except ValidationError as error:
        problem = _contract_error(spec, error, None)
        raise ContractError(spec.name, problem.problem, field=problem.field, version=spec.version,
                            lead_id=lead_id, message_id=message_id) from None


def parse_input(name: str, envelope: Envelope | Mapping[str, Any]) -> Envelope:
    """Validate a whole envelope against envelope contract `name`; returns the typed envelope."""
    spec = get_contract(name)
    if spec.kind != "envelope":
        raise ContractError(name, "is a payload contract; validate the context with validate_payload",
                            version=spec.version)
    data = envelope.model_dump() if isinstance(envelope, BaseModel) else dict(envelope)
    try:
        return spec.model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as error:
        raise _contract_error(spec, error, data) from None


def check_envelope(name: str, envelope: Envelope | Mapping[str, Any]) -> str | None:
    """None if contract `name` accepts the envelope, else the reason (contract, field path, problem).
    An unknown contract name is a ContractError, not a reason."""
    get_contract(name)
    try:
        parse_input(name, envelope)
    except ContractError as error:
        return str(error)
    return None
