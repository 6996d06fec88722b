"""The intake service in-process: form, JSON endpoint, inbound e-mail webhook, bridge; bad input is 4xx."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sdr_pipeline.contracts import (
    AGENT_MESSAGES,
    DEAD_LETTERS,
    INCOMING_LEADS,
    InboundReply,
    email_message_id,
    parse_envelope,
)
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.infra.secrets import shared_secret
from sdr_pipeline.intake import LeadStore, create_app, forward
from sdr_pipeline.registry import load_registry
from sdr_pipeline.settings import Settings
from tests.signing import webhook_post

pytestmark = pytest.mark.anyio

LEAD = {"name": "Jo Weber", "email": "jo@northwind-logistics.example", "company_name": "Northwind Logistics",
        "company_website": "northwind-logistics.example", "job_title": "Head of Sales Ops",
        "project_description": "We lose inbound leads."}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


@pytest.fixture
def client(settings: Settings, bus: InMemoryBus, store: LeadStore) -> httpx.AsyncClient:
    app = create_app(settings, publisher=bus, leads=store)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake.test")


def incoming(bus: InMemoryBus) -> list:
    return [parse_envelope(record.value) for record in bus.topics.get(INCOMING_LEADS, [])]


async def test_json_lead_lands_on_incoming_leads(client, bus) -> None:
    async with client:
        response = await client.post("/api/leads", json=LEAD)
    assert response.status_code == 201, response.text
    [envelope] = incoming(bus)
    assert envelope.lead_id == response.json()["lead_id"] and envelope.message_id == response.json()["message_id"]
    assert (envelope.hop, envelope.produced_by) == (0, "web_form")
    assert envelope.lead.company_website == "https://northwind-logistics.example"
    # What intake writes is exactly what lead_ingestion accepts.
    assert load_registry().check_input("lead_ingestion", envelope) is None


async def test_same_email_after_the_dedup_window_is_an_update_of_the_same_lead(tmp_path, bus, store) -> None:
    app = create_app(Settings(state_dir=tmp_path / "state", intake_dedup_window_s=0), publisher=bus, leads=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake.test") as client:
        first = await client.post("/api/leads", json=LEAD)
        second = await client.post("/api/leads", json={**LEAD, "job_title": "VP Sales", "email": "JO@northwind-logistics.example"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["lead_id"] == second.json()["lead_id"]
    assert first.json()["message_id"] != second.json()["message_id"]
    assert len(incoming(bus)) == 2


async def test_crm_import_source(client, bus) -> None:
    async with client:
        response = await client.post("/api/leads", json={**LEAD, "lead_source": "crm_import"})
    assert response.status_code == 201
    assert incoming(bus)[0].produced_by == "crm_import"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "phrase"),
    [
        (b"{broken", "application/json", 400, "not valid JSON"),
        (b'{"name": "x"}', "text/plain", 415, "application/json"),
        (b'"a string"', "application/json", 422, "JSON object"),
        (b'{"name": "Jo", "company_name": "N"}', "application/json", 422, "email: this field is required"),
        (b'{"name": "Jo", "email": "nope", "company_name": "N"}', "application/json", 422, "e-mail address"),
        (b'{"name": "Jo", "email": "a@b.example", "company_name": "N", "company_website": "javascript:alert(1)"}',
         "application/json", 422, "company_website"),
        (b'{"name": "' + b"x" * 70_000 + b'"}', "application/json", 413, "limit"),
    ],
    ids=["malformed", "content_type", "not_object", "missing_email", "bad_email", "bad_website", "oversize"],
)
async def test_bad_json_leads_are_4xx_and_publish_nothing(client, bus, content, content_type, status, phrase) -> None:
    async with client:
        response = await client.post("/api/leads", content=content, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]
    assert incoming(bus) == []


async def test_form_page_and_submission(client, bus) -> None:
    async with client:
        page = await client.get("/")
        submitted = await client.post("/", data=LEAD)
        thanks = await client.get(submitted.headers["location"])
    assert page.status_code == 200 and 'id="lead-form"' in page.text
    assert submitted.status_code == 303
    [envelope] = incoming(bus)
    assert envelope.lead.email == LEAD["email"] and envelope.produced_by == "web_form"
    assert envelope.lead_id in thanks.text


async def test_form_shows_errors_and_keeps_values(client, bus) -> None:
    async with client:
        response = await client.post("/", data={**LEAD, "email": "not-an-address", "name": ""})
    assert response.status_code == 422
    assert 'id="error-email"' in response.text and "name@company.com" in response.text
    assert 'id="error-name"' in response.text
    assert 'value="Northwind Logistics"' in response.text  # what the person typed is kept
    assert incoming(bus) == []


async def test_form_escapes_what_it_echoes(client, bus) -> None:
    async with client:
        response = await client.post("/", data={**LEAD, "email": "x", "company_name": '"><script>alert(1)</script>'})
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


async def test_form_wrong_content_type(client, bus) -> None:
    async with client:
        response = await client.post("/", json=LEAD)
    assert response.status_code == 415 and "application/x-www-form-urlencoded" in response.text


async def test_inbound_reply_finds_its_lead_by_in_reply_to(client, bus, store, settings) -> None:
    async with client:
        lead_id = (await client.post("/api/leads", json=LEAD)).json()["lead_id"]
        our_mail = email_message_id(thread=store.thread(lead_id), message_id="m-9", index=0, domain="example.com",
                                    secret=shared_secret(settings, "dispatch"))
        reply = {"from": "someone.else@other.example", "to": "sdr@example.com", "subject": "Re: hello",
                 "body": "Can we get pricing for 20 seats?", "in_reply_to": our_mail, "message_id": "<r1@other.example>"}
        response = await client.post("/api/inbound-email", **webhook_post(reply, settings))
        repeat = await client.post("/api/inbound-email", **webhook_post(reply, settings))
    assert response.status_code == 202, response.text
    envelope = incoming(bus)[1]
    assert envelope.lead_id == lead_id and envelope.produced_by == "inbound_email" and envelope.hop == 0
    context = InboundReply.model_validate(envelope.context)
    assert context.body.startswith("Can we get pricing") and context.reply_message_id == "<r1@other.example>"
    assert envelope.lead.company_name == LEAD["company_name"]
    assert repeat.json()["message_id"] == response.json()["message_id"]  # a webhook retry is the same message
    registry = load_registry()
    accepted = [name for name, reason in registry.candidates(envelope).items() if reason is None]
    assert accepted == ["active_outreach", "nurture_campaign"]


async def test_inbound_reply_falls_back_to_the_sender(client, bus, settings) -> None:
    async with client:
        lead_id = (await client.post("/api/leads", json=LEAD)).json()["lead_id"]
        response = await client.post("/api/inbound-email",
                                     **webhook_post({"from": LEAD["email"], "body": "Not now, thanks."}, settings))
    assert response.status_code == 202 and response.json()["lead_id"] == lead_id


@pytest.mark.parametrize(
    ("payload", "status", "phrase"),
    [
        ({"from": "stranger@nowhere.example", "body": "hi"}, 404, "no known lead"),
        ({"from": "stranger@nowhere.example", "body": "hi",
          "in_reply_to": email_message_id(thread="f" * 20, message_id="m", index=0, domain="example.com",
                                          secret="not-this-stack's")},
         404, "no known lead"),
        ({"from": "not an address", "body": "hi"}, 422, "from"),
        ({"from": "a@b.example"}, 422, "body"),
    ],
)
async def test_inbound_reply_rejections(client, bus, settings, payload, status, phrase) -> None:
    async with client:
        response = await client.post("/api/inbound-email", **webhook_post(payload, settings))
    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]
    assert incoming(bus) == []


async def test_bridge_forwards_as_hop_zero_and_dead_letters_junk(client, bus, store) -> None:
    async with client:
        await client.post("/api/leads", json=LEAD)
    bus.publish(INCOMING_LEADS, b'{"not": "an envelope"}')
    count = forward(bus.read([INCOMING_LEADS]), bus, Settings(), leads=store)
    assert (count.forwarded, count.dead_lettered) == (1, 1)
    [bridged] = [parse_envelope(record.value) for record in bus.topics[AGENT_MESSAGES]]
    assert bridged.message_id == parse_envelope(bus.topics[INCOMING_LEADS][0].value).message_id and bridged.hop == 0
    [dead] = bus.topics[DEAD_LETTERS]
    assert b"lead_id" in dead.value and b"validation" in dead.value
