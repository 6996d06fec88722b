"""Agent payload and input contracts: round trips, rejections naming field and version, schema files."""

from __future__ import annotations

import json

import jsonschema
import pytest

from sdr_pipeline.contracts import (
    CONTRACTS,
    Envelope,
    LeadScore,
    NurtureSequence,
    OutreachEmail,
    ResearchProfile,
    check_envelope,
    contract_schema,
    export_schemas,
    parse_input,
    validate_payload,
)
from sdr_pipeline.exceptions import ContractError

PROFILE = {
    "company_summary": "Acme builds anvils for cartoon coyotes.",
    "industry": "manufacturing",
    "fit_assessment": "Strong: they run a large, manual quoting process.",
    "size_estimate": "51-200 employees",
    "likely_use_cases": ["quote automation"],
}
SCORE_ENGAGE = {"score": 82, "next_step": "actively_engage", "talking_points": ["quoting"], "profile": PROFILE}
SCORE_NURTURE = {"score": 35, "next_step": "nurture", "talking_points": []}
OUTREACH = {"to": "wile@acme.example", "subject": "Faster quotes", "body": "Hi Wile, ..."}
SEQUENCE = {
    "to": "wile@acme.example",
    "emails": [
        {"subject": "One", "body": "first", "send_offset_days": 0},
        {"subject": "Two", "body": "second", "send_offset_days": 4},
        {"subject": "Three", "body": "third", "send_offset_days": 11},
    ],
}
REPLY = {"from_address": "wile@acme.example", "body": "Can we book a demo next week?", "in_reply_to": "<x@sdr>"}

INPUT_CONTRACTS = ("raw_lead", "researched_lead", "engage_ready_lead", "nurture_ready_lead", "drafted_emails")


def envelope(produced_by: str, context: object = None, **lead: str) -> Envelope:
    return Envelope(lead_id="lead-1", produced_by=produced_by, context=context,
                    lead=lead or {"email": "wile@acme.example", "company_name": "Acme"})


def accepted_by(env: Envelope) -> set[str]:
    return {name for name in INPUT_CONTRACTS if check_envelope(name, env) is None}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (envelope("web_form"), {"raw_lead"}),
        (envelope("crm_import", "Updated: new job title"), {"raw_lead"}),
        (envelope("lead_ingestion", PROFILE), {"researched_lead"}),
        (envelope("lead_scoring", SCORE_ENGAGE), {"engage_ready_lead"}),
        (envelope("lead_scoring", SCORE_NURTURE), {"nurture_ready_lead"}),
        (envelope("inbound_email", "Not now, maybe next quarter."), {"engage_ready_lead", "nurture_ready_lead"}),
        (envelope("inbound_email", REPLY), {"engage_ready_lead", "nurture_ready_lead"}),
        (envelope("active_outreach", OUTREACH), {"drafted_emails"}),
        (envelope("nurture_campaign", SEQUENCE), {"drafted_emails"}),
        (envelope("send_email", {"deliveries": [], "sent_count": 0, "scheduled_count": 0}), set()),
        (envelope("crm_import", PROFILE), {"researched_lead"}),
    ],
    ids=["web_form", "crm_update", "profile", "engage", "nurture", "reply_text", "reply_object",
         "outreach", "sequence", "delivered", "crm_import_with_profile"],
)
def test_input_contracts_follow_the_routing_policy(env: Envelope, expected: set[str]) -> None:
    assert accepted_by(env) == expected


def test_rejection_names_contract_version_and_field() -> None:
    reason = check_envelope("engage_ready_lead", envelope("lead_scoring", SCORE_NURTURE))
    assert reason is not None
    assert "engage_ready_lead v1" in reason and "'context.next_step'" in reason and "actively_engage" in reason


def test_reply_text_needs_inbound_email_producer() -> None:
    reason = check_envelope("nurture_ready_lead", envelope("lead_scoring", "some free text"))
    assert reason is not None and "inbound_email" in reason


def test_raw_lead_needs_something_to_research() -> None:
    env = Envelope(lead_id="lead-1", produced_by="web_form", lead={"job_title": "CTO"})
    reason = check_envelope("raw_lead", env)
    assert reason is not None and "'lead'" in reason


def test_parse_input_returns_typed_context() -> None:
    typed = parse_input("drafted_emails", envelope("nurture_campaign", SEQUENCE))
    assert isinstance(typed.context, NurtureSequence)
    typed = parse_input("drafted_emails", envelope("active_outreach", OUTREACH))
    assert isinstance(typed.context, OutreachEmail)


def test_parse_input_raises_contract_error_with_ids() -> None:
    with pytest.raises(ContractError) as caught:
        parse_input("researched_lead", envelope("lead_ingestion", {"industry": "x", "fit_assessment": "y"}))
    assert caught.value.field == "context.company_summary"
    assert caught.value.version == "1"
    assert caught.value.lead_id == "lead-1"


@pytest.mark.parametrize(
    ("model", "data"),
    [(ResearchProfile, PROFILE), (LeadScore, SCORE_ENGAGE), (OutreachEmail, OUTREACH), (NurtureSequence, SEQUENCE)],
)
def test_payload_round_trip_keeps_extra_fields(model: type, data: dict) -> None:
    with_extra = {**data, "trace_id": "t-1"}
    parsed = model.model_validate(with_extra)
    again = model.model_validate_json(parsed.model_dump_json())
    assert again == parsed
    assert again.model_dump()["trace_id"] == "t-1"
    # The exported schema accepts what the model accepts.
    name = {ResearchProfile: "research_profile", LeadScore: "lead_score",
            OutreachEmail: "outreach_email", NurtureSequence: "nurture_sequence"}[model]
    jsonschema.validate(json.loads(parsed.model_dump_json()), contract_schema(name))


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("lead_score", {**SCORE_NURTURE, "score": 101}, "score"),
        ("lead_score", {**SCORE_NURTURE, "score": "high"}, "score"),
        ("lead_score", {"score": 50}, "next_step"),
        ("outreach_email", {**OUTREACH, "to": "not-an-address"}, "to"),
        ("nurture_sequence", {**SEQUENCE, "emails": SEQUENCE["emails"][:2]}, "emails"),
        ("nurture_sequence", {**SEQUENCE, "emails": [{**e, "send_offset_days": -1} for e in SEQUENCE["emails"]]},
         "emails.0.send_offset_days"),
        ("research_profile", {k: v for k, v in PROFILE.items() if k != "industry"}, "industry"),
    ],
)
def test_payload_rejections_name_the_field(name: str, data: dict, field: str) -> None:
    with pytest.raises(ContractError) as caught:
        validate_payload(name, data, lead_id="lead-1", message_id="m-1")
    assert caught.value.field == field
    assert f"{name} v1" in str(caught.value)
    assert caught.value.message_id == "m-1"


def test_lead_submission_normalises_website() -> None:
    submission = validate_payload("lead_submission", {"name": " Wile ", "email": "wile@acme.example",
                                                      "company_name": "Acme", "company_website": "acme.example"})
    assert submission.company_website == "https://acme.example"
    assert submission.name == "Wile"
    with pytest.raises(ContractError) as caught:
        validate_payload("lead_submission", {"name": "W", "email": "wile@acme.example", "company_name": "Acme",
                                             "company_website": "ftp://acme.example"})
    assert caught.value.field == "company_website"


def test_unknown_contract_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="unknown contract"):
        check_envelope("no_such_contract", envelope("web_form"))


def test_exported_schema_files_are_up_to_date() -> None:
    stale = export_schemas(check=True)
    assert not stale, f"regenerate with `sdr-pipeline agents schemas`: {[p.name for p in stale]}"


def test_every_contract_has_a_versioned_schema() -> None:
    for name, spec in CONTRACTS.items():
        schema = contract_schema(name)
        assert schema["x-version"] == spec.version
        assert schema["$id"].endswith(f"{name}.v{spec.version}.json")
