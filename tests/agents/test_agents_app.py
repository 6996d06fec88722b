"""Each agent in-process (httpx ASGI transport) with a scripted LLM: contracts, publishing, idempotency,
bad input."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from sdr_pipeline.agents.outbox import Outbox
from sdr_pipeline.contracts import (
    AGENT_MESSAGES,
    DeliveryReport,
    LeadScore,
    NurtureSequence,
    OutreachEmail,
    ResearchProfile,
    parse_envelope,
    thread_from_email_message_id,
    utc_now,
)
from sdr_pipeline.exceptions import LLMUnavailableError
from sdr_pipeline.llm.testing import ScriptedLLM
from tests.agents.conftest import LEAD, PROFILE, THREAD, envelope
from tests.signing import dispatch_secret, signed_by_agent

pytestmark = pytest.mark.anyio

PROFILE_ANSWER = {
    "company_summary": "Northwind Logistics forwards freight across Europe.",
    "industry": "logistics", "size_estimate": "501-1000 employees",
    "likely_use_cases": ["fast replies to quote requests"], "fit_assessment": "Strong fit: budget planned for Q1.",
}
SCORE_ANSWER = {"score": 84, "next_step": "actively_engage", "talking_points": ["Q1 budget", "slow replies"],
                "rationale": "Concrete pain and budget."}
OUTREACH_ANSWER = {"subject": "Answering every freight lead in minutes",
                   "body": "Hi Jo,\n\nYou mentioned leads waiting a day. See https://invented.example/demo, "
                           "https://northwind-logistics.example/careers and book at https://cal.example.com/alex."
                           "\n\nBest,\n[Your Name]"}
SEQUENCE_ANSWERS = [{"subject": "First", "body": "First."}, {"subject": "Middle", "body": "Second."},
                    {"subject": "Later", "body": "Third."}]
SCORE_CONTEXT = {**SCORE_ANSWER, "profile": PROFILE}


def published(bus) -> list:
    return [parse_envelope(record.value) for record in bus.topics.get(AGENT_MESSAGES, [])]


async def post(client, path: str, env) -> object:
    return await client.post(path, content=env.to_json(), headers={"content-type": "application/json"})


async def test_lead_ingestion_publishes_a_valid_profile(make_client, bus) -> None:
    llm = ScriptedLLM([PROFILE_ANSWER])
    async with make_client(llm) as client:
        response = await post(client, "/agents/lead_ingestion", envelope("web_form"))
    assert response.status_code == 200, response.text
    [output] = published(bus)
    assert output.produced_by == "lead_ingestion" and output.hop == 1 and output.lead_id == "lead-nw"
    assert output.parent_message_id == "m-1" and output.message_id != "m-1"
    assert output.model_extra["trace_id"] == "trace-1"
    profile = ResearchProfile.model_validate(output.context)
    assert profile.company_name == "Northwind Logistics"
    assert profile.sources == ["lead", "crm_fixture", "enrichment_fixture"]
    # The model saw the fixture facts and got a schema to answer in.
    [call] = llm.calls
    assert "budget planned for Q1" in call.messages[-1]["content"] and "Oracle TMS" in call.messages[-1]["content"]
    assert call.schema is not None and "fit_assessment" in call.schema["properties"]
    body = response.json()
    assert body["replayed"] is False and body["output"]["message_id"] == output.message_id


async def test_repeated_post_returns_first_answer_and_publishes_nothing_new(make_client, bus) -> None:
    llm = ScriptedLLM([PROFILE_ANSWER])
    async with make_client(llm) as client:
        first = await post(client, "/agents/lead_ingestion", envelope("web_form"))
        second = await post(client, "/agents/lead_ingestion", envelope("web_form"))
    assert first.status_code == second.status_code == 200
    assert second.json()["replayed"] is True
    assert second.json()["output"] == first.json()["output"]
    assert len(published(bus)) == 1 and len(llm.calls) == 1


async def test_idempotency_survives_a_restart(make_client, bus) -> None:
    async with make_client(ScriptedLLM([PROFILE_ANSWER])) as client:
        await post(client, "/agents/lead_ingestion", envelope("web_form"))
    async with make_client(ScriptedLLM([])) as client:  # a new app on the same state folder
        again = await post(client, "/agents/lead_ingestion", envelope("web_form"))
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert len(published(bus)) == 1


async def test_a_message_one_agent_took_is_refused_by_another(make_client, bus) -> None:
    llm = ScriptedLLM([PROFILE_ANSWER])
    async with make_client(llm) as client:
        first = await post(client, "/agents/lead_ingestion", envelope("web_form"))
        # the same message id routed again elsewhere (a replay the router now decides differently)
        other = await post(client, "/agents/lead_scoring", envelope("lead_ingestion", PROFILE, hop=1))
    assert first.status_code == 200
    assert other.status_code == 409 and "already taken by lead_ingestion" in other.json()["detail"]
    assert len(published(bus)) == 1 and len(llm.calls) == 1


async def test_a_refused_message_leaves_no_claim_behind(make_client, bus) -> None:
    async with make_client(ScriptedLLM([PROFILE_ANSWER])) as client:
        wrong = await post(client, "/agents/lead_scoring", envelope("web_form"))  # not its input: 422
        right = await post(client, "/agents/lead_ingestion", envelope("web_form"))
    assert wrong.status_code == 422 and right.status_code == 200


async def test_wrong_input_is_422_with_reason_and_no_work(make_client, bus) -> None:
    llm = ScriptedLLM([])
    async with make_client(llm) as client:
        response = await post(client, "/agents/lead_ingestion", envelope("lead_scoring", SCORE_CONTEXT, hop=2))
        scoring = await post(client, "/agents/lead_scoring", envelope("web_form", message_id="m-2"))
    assert response.status_code == 422
    assert "raw_lead v1 at 'produced_by'" in response.json()["detail"]
    assert scoring.status_code == 422 and "researched_lead v1 at 'context'" in scoring.json()["detail"]
    assert published(bus) == [] and llm.calls == []


@pytest.mark.parametrize(
    ("content", "content_type", "status", "phrase"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b'{"lead_id": "x"}', "text/plain", 415, "application/json"),
        (b"[1, 2]", "application/json", 422, "JSON object"),
        (b'{"lead_id": "x", "produced_by": "web_form"}', "application/json", 422, "message_id"),
        (b'{"message_id": "m", "lead_id": "x", "produced_by": "web_form", "lead": {"email": "a@b.example"},'
         b' "pad": "' + b"x" * 70_000 + b'"}', "application/json", 413, "limit"),
        (b"\xff\xfe", "application/json", 400, "not valid JSON"),
    ],
    ids=["malformed", "content_type", "array", "no_message_id", "oversize", "not_utf8"],
)
async def test_bad_bodies_are_4xx_never_500(make_client, bus, content, content_type, status, phrase) -> None:
    async with make_client(ScriptedLLM([])) as client:
        response = await client.post("/agents/lead_ingestion", content=content, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]
    assert published(bus) == []


async def test_model_answer_breaking_the_schema_is_502_and_not_remembered(make_client, bus) -> None:
    llm = ScriptedLLM([{**SCORE_ANSWER, "score": 150}, "not json at all", SCORE_ANSWER])
    async with make_client(llm) as client:
        bad = await post(client, "/agents/lead_scoring", envelope("lead_ingestion", PROFILE, hop=1))
        worse = await post(client, "/agents/lead_scoring", envelope("lead_ingestion", PROFILE, hop=1))
        good = await post(client, "/agents/lead_scoring", envelope("lead_ingestion", PROFILE, hop=1))
    assert bad.status_code == 502 and "'score'" in bad.json()["detail"]
    assert worse.status_code == 502 and "not JSON" in worse.json()["detail"]
    assert good.status_code == 200 and good.json()["replayed"] is False
    assert len(published(bus)) == 1


async def test_llm_down_is_503(make_client, bus) -> None:
    llm = ScriptedLLM([LLMUnavailableError("http://127.0.0.1:1/v1", "connection refused")])
    async with make_client(llm) as client:
        response = await post(client, "/agents/lead_scoring", envelope("lead_ingestion", PROFILE, hop=1))
    assert response.status_code == 503 and "connection refused" in response.json()["detail"]
    assert published(bus) == []


async def test_lead_scoring_carries_the_profile_forward(make_client, bus) -> None:
    async with make_client(ScriptedLLM([SCORE_ANSWER])) as client:
        response = await post(client, "/agents/lead_scoring", envelope("lead_ingestion", PROFILE, hop=1))
    assert response.status_code == 200, response.text
    [output] = published(bus)
    score = LeadScore.model_validate(output.context)
    assert (score.score, score.next_step) == (84, "actively_engage")
    assert score.profile is not None and score.profile.industry == PROFILE["industry"]
    assert output.hop == 2


async def test_active_outreach_keeps_only_links_to_our_own_hosts_and_fills_the_signature(make_client, bus,
                                                                                       settings) -> None:
    async with make_client(ScriptedLLM([OUTREACH_ANSWER])) as client:
        response = await post(client, "/agents/active_outreach", envelope("lead_scoring", SCORE_CONTEXT, hop=2))
    assert response.status_code == 200, response.text
    email = OutreachEmail.model_validate(published(bus)[0].context)
    assert email.to == LEAD["email"]
    assert "invented.example" not in email.body
    # the lead's own website is a host the lead chose: a phishing link to it is dropped like any other
    assert "northwind-logistics.example" not in email.body
    assert "https://cal.example.com/alex" in email.body  # a subdomain of our sender's domain (email_from): kept
    assert settings.sender_name in email.body and "[Your Name]" not in email.body


async def test_active_outreach_answers_a_reply_in_thread(make_client, bus) -> None:
    reply = {"from_address": "jo.private@northwind-logistics.example", "subject": "Pricing?",
             "body": "What would this cost for 20 seats? Can we talk Tuesday?",
             "in_reply_to": "<sdr.x.y.0@example.com>", "reply_message_id": "<r-1@northwind-logistics.example>"}
    llm = ScriptedLLM([{"subject": "ignored for replies", "body": "Hi Jo, Tuesday works.\n\nAlex"}])
    async with make_client(llm) as client:
        response = await post(client, "/agents/active_outreach", envelope("inbound_email", reply, hop=5))
    assert response.status_code == 200, response.text
    email = OutreachEmail.model_validate(published(bus)[0].context)
    assert email.to == reply["from_address"]
    assert email.subject == "Re: Pricing?" and email.in_reply_to == "<r-1@northwind-logistics.example>"
    assert "20 seats" in llm.calls[0].messages[-1]["content"]


async def test_a_reply_from_another_domain_is_answered_at_the_leads_own_address(make_client, bus) -> None:
    reply = {"from_address": "victim@bank.example", "subject": "Hi", "body": "Please send the invoice link here."}
    async with make_client(ScriptedLLM([{"subject": "x", "body": "Hi Jo, happy to help.\n\nAlex"}])) as client:
        response = await post(client, "/agents/active_outreach", envelope("inbound_email", reply, hop=5))
    assert response.status_code == 200, response.text
    assert OutreachEmail.model_validate(published(bus)[0].context).to == LEAD["email"]


async def test_outreach_without_an_address_is_422(make_client, bus) -> None:
    env = envelope("lead_scoring", SCORE_CONTEXT, hop=2)
    env = env.model_copy(update={"lead": env.lead.model_copy(update={"email": None})})
    llm = ScriptedLLM([])
    async with make_client(llm) as client:
        response = await post(client, "/agents/active_outreach", env)
    assert response.status_code == 422 and "lead.email" in response.json()["detail"]
    assert llm.calls == []


async def test_nurture_campaign_writes_each_email_for_its_purpose(make_client, bus) -> None:
    nurture_context = {**SCORE_CONTEXT, "next_step": "nurture", "score": 40}
    llm = ScriptedLLM(SEQUENCE_ANSWERS)
    async with make_client(llm) as client:
        response = await post(client, "/agents/nurture_campaign", envelope("lead_scoring", nurture_context, hop=2))
        wrong = await post(client, "/agents/nurture_campaign",
                           envelope("lead_scoring", SCORE_CONTEXT, hop=2, message_id="m-2"))
    assert response.status_code == 200, response.text
    sequence = NurtureSequence.model_validate(published(bus)[0].context)
    assert [email.send_offset_days for email in sequence.emails] == [0, 7, 30]
    assert [email.subject for email in sequence.emails] == ["First", "Middle", "Later"]
    # one call per e-mail, each asked for its own purpose
    assert len(llm.calls) == 3 and "thank them" in llm.calls[0].messages[0]["content"]
    assert "check-in" in llm.calls[2].messages[0]["content"] and "check-in" not in llm.calls[0].messages[0]["content"]
    assert wrong.status_code == 422 and "'context.next_step'" in wrong.json()["detail"]


async def test_send_email_sends_once_and_reports(make_client, bus, sender, settings) -> None:
    drafted = {"to": "jo@northwind-logistics.example", "subject": "Hello", "body": "Hi Jo"}
    async with make_client(ScriptedLLM([])) as client:
        first = await post(client, "/agents/send_email", signed_by_agent(envelope("active_outreach", drafted, hop=3),
                                                                         settings))
        again = await post(client, "/agents/send_email", signed_by_agent(envelope("active_outreach", drafted, hop=3),
                                                                         settings))
    assert first.status_code == again.status_code == 200
    assert len(sender.sent) == 1
    [message] = sender.sent
    assert message["To"] == drafted["to"] and message["Subject"] == "Hello"
    # the Message-ID names no lead: it carries the lead's thread token and verifies only under our secret
    assert "lead-nw" not in message["Message-ID"] and "X-SDR-Lead-Id" not in message
    assert thread_from_email_message_id(message["Message-ID"], dispatch_secret(settings)) == THREAD
    assert thread_from_email_message_id(message["Message-ID"], "another-secret") is None
    [output] = published(bus)
    report = DeliveryReport.model_validate(output.context)
    assert (report.sent_count, report.scheduled_count) == (1, 0)
    assert report.deliveries[0].smtp_message_id == message["Message-ID"]


async def test_send_email_schedules_later_mails_of_a_sequence(make_client, bus, sender, settings) -> None:
    sequence = {"to": "jo@northwind-logistics.example", "emails": [
        {"subject": "One", "body": "1", "send_offset_days": 0},
        {"subject": "Two", "body": "2", "send_offset_days": 7},
        {"subject": "Three", "body": "3", "send_offset_days": 30},
    ]}
    async with make_client(ScriptedLLM([])) as client:
        response = await post(client, "/agents/send_email",
                              signed_by_agent(envelope("nurture_campaign", sequence, hop=3), settings))
    assert response.status_code == 200, response.text
    report = DeliveryReport.model_validate(published(bus)[0].context)
    assert [delivery.status for delivery in report.deliveries] == ["sent", "scheduled", "scheduled"]
    assert [message["Subject"] for message in sender.sent] == ["One"]
    # The scheduler sends each when due, once.
    outbox = Outbox(settings.state_dir / "agents" / "outbox.sqlite", sender, sender_address=settings.email_from)
    try:
        assert [row.index for row in outbox.send_due(now=utc_now() + timedelta(days=8))] == [1]
        assert [row.index for row in outbox.send_due(now=utc_now() + timedelta(days=31))] == [2]
        assert outbox.send_due(now=utc_now() + timedelta(days=60)) == []
    finally:
        outbox.close()
    assert [message["Subject"] for message in sender.sent] == ["One", "Two", "Three"]


async def test_health_and_listing(make_client) -> None:
    async with make_client(ScriptedLLM([])) as client:
        health = await client.get("/health")
        agents = await client.get("/agents")
    assert health.json()["agents"] == ["lead_ingestion", "lead_scoring", "active_outreach", "nurture_campaign",
                                       "send_email"]
    assert json.dumps(agents.json()).count("/agents/") == 5
