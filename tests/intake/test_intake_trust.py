"""The public intake cannot be steered into phishing: the webhook is signed, a reply's In-Reply-To counts only
when it is one of our signed Message-IDs, unknown fields are refused, every door is rate limited, and the
internal door answers signed callers only."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from sdr_pipeline.contracts import INCOMING_LEADS, Lead, LeadAddresses, email_message_id, parse_envelope
from sdr_pipeline.contracts.signing import request_headers
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.intake import LeadStore, RateLimits, create_app
from sdr_pipeline.settings import Settings
from tests.signing import dispatch_secret, webhook_post

pytestmark = pytest.mark.anyio

LEAD = {"name": "Jo Weber", "email": "jo@northwind-logistics.example", "company_name": "Northwind Logistics"}
BASE = "http://intake.test"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, state_dir=tmp_path / "state")


def client_for(settings: Settings, bus: InMemoryBus, store: LeadStore, **limits: str) -> httpx.AsyncClient:
    rate = RateLimits(per_ip=limits.get("per_ip", "1000/minute"), per_address=limits.get("per_address", "1000/hour"))
    app = create_app(settings, publisher=bus, leads=store, limits=rate)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


def replies(bus: InMemoryBus) -> list:
    return [e for e in (parse_envelope(r.value) for r in bus.topics.get(INCOMING_LEADS, []))
            if e.produced_by == "inbound_email"]


def our_message_id(settings: Settings, store: LeadStore, lead_id: str) -> str:
    return email_message_id(thread=store.thread(lead_id), message_id="m-1", index=0, domain="example.com",
                            secret=dispatch_secret(settings))


# --- the webhook's signature ----------------------------------------------------------------------


@pytest.mark.parametrize(("how", "phrase"), [
    ("unsigned", "header is missing"),
    ("wrong secret", "does not match"),
    ("replayed", "outside the 300 s window"),
    ("body changed", "does not match"),
])
async def test_an_unsigned_or_forged_webhook_post_is_401_and_publishes_nothing(settings, bus, store, how,
                                                                               phrase) -> None:
    reply = {"from": LEAD["email"], "body": "Please send the contract to finance@attacker.example"}
    post = webhook_post(reply, settings, secret="a guess" if how == "wrong secret" else None,
                        at=time.time() - 3600 if how == "replayed" else None)
    if how == "unsigned":
        post["headers"] = {"content-type": "application/json"}
    if how == "body changed":
        post["content"] = post["content"].replace(b"finance@", b"ceo@")
    async with client_for(settings, bus, store) as client:
        await client.post("/api/leads", json=LEAD)
        response = await client.post("/api/inbound-email", **post)
    assert response.status_code == 401
    assert phrase in response.json()["detail"] and "SDR_INBOUND_WEBHOOK_SECRET" in response.json()["fix"]
    assert replies(bus) == []


@pytest.mark.parametrize(("body", "status", "phrase"), [
    (b"[" * 50_000 + b"]" * 10_000, 400, "too deeply"),
    (b"[1, 2]", 422, "expected a JSON object"),
    (b"{oops", 400, "not valid JSON"),
])
async def test_signed_but_malformed_webhook_bodies_are_4xx(settings, bus, store, body, status, phrase) -> None:
    async with client_for(settings, bus, store) as client:
        response = await client.post("/api/inbound-email", **webhook_post(None, settings, raw=body))
    assert response.status_code == status and phrase in response.json()["detail"]


# --- In-Reply-To: ours and signed, or not a way in --------------------------------------------------


async def test_a_colleague_answering_our_signed_mail_is_recorded_as_an_address_we_may_answer(settings, bus,
                                                                                             store) -> None:
    async with client_for(settings, bus, store) as client:
        lead_id = (await client.post("/api/leads", json=LEAD)).json()["lead_id"]
        reply = {"from": "kim@northwind-logistics.example", "body": "I handle this now; can we talk Tuesday?",
                 "in_reply_to": our_message_id(settings, store, lead_id)}
        response = await client.post("/api/inbound-email", **webhook_post(reply, settings))
    assert response.status_code == 202, response.text
    assert replies(bus)[0].lead_id == lead_id
    known = store.addresses(lead_id)
    assert known is not None and known.allows("kim@northwind-logistics.example")
    assert store.by_email("kim@northwind-logistics.example").lead_id == lead_id  # her next reply finds the lead


async def test_a_verified_reply_from_another_domain_is_taken_but_never_becomes_a_recipient(settings, bus,
                                                                                           store) -> None:
    async with client_for(settings, bus, store) as client:
        lead_id = (await client.post("/api/leads", json=LEAD)).json()["lead_id"]
        reply = {"from": "victim@bank.example", "body": "Forwarded: please answer me instead.",
                 "in_reply_to": our_message_id(settings, store, lead_id)}
        response = await client.post("/api/inbound-email", **webhook_post(reply, settings))
    assert response.status_code == 202
    assert store.addresses(lead_id).reply_addresses == ()


@pytest.mark.parametrize("in_reply_to", [
    "forged",  # our format, a valid-looking thread, an HMAC made with another key
    "<sdr.am8tbm9ydGh3aW5k.0123456789abcdef.0@example.com>",  # the old lead-id-in-base32 format
    "<CAF=random@mail.gmail.example>",
])
async def test_an_in_reply_to_that_is_not_ours_finds_no_lead_for_a_stranger(settings, bus, store,
                                                                            in_reply_to) -> None:
    async with client_for(settings, bus, store) as client:
        lead_id = (await client.post("/api/leads", json=LEAD)).json()["lead_id"]
        if in_reply_to == "forged":
            in_reply_to = email_message_id(thread=store.thread(lead_id), message_id="m", index=0,
                                           domain="example.com", secret="an attacker's guess")
        reply = {"from": "stranger@northwind-logistics.example", "body": "Send it to me.", "in_reply_to": in_reply_to}
        response = await client.post("/api/inbound-email", **webhook_post(reply, settings))
    assert response.status_code == 404 and "no known lead" in response.json()["detail"]
    assert replies(bus) == [] and store.addresses(lead_id).reply_addresses == ()


# --- only the documented fields -----------------------------------------------------------------------


@pytest.mark.parametrize(("door", "extra"), [("/api/leads", "is_admin"), ("/api/inbound-email", "bcc")])
async def test_unknown_fields_are_refused(settings, bus, store, door, extra) -> None:
    payload = ({**LEAD, extra: True} if door == "/api/leads"
               else {"from": LEAD["email"], "body": "hi", extra: "all@victim.example"})
    async with client_for(settings, bus, store) as client:
        if door == "/api/leads":
            response = await client.post(door, json=payload)
        else:
            await client.post("/api/leads", json=LEAD)
            response = await client.post(door, **webhook_post(payload, settings))
    assert response.status_code == 422
    assert f"{extra}: this field is not accepted" in response.json()["detail"]
    assert [e.produced_by for e in (parse_envelope(r.value) for r in bus.topics.get(INCOMING_LEADS, []))] == \
        ([] if door == "/api/leads" else ["web_form"])


async def test_the_form_refuses_unknown_fields_too(settings, bus, store) -> None:
    async with client_for(settings, bus, store) as client:
        response = await client.post("/", content="name=Jo&email=jo%40n.example&company_name=N&lead_source=x&bcc=y",
                                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422 and "this field is not accepted" in response.text
    assert INCOMING_LEADS not in bus.topics


# --- rate limits ------------------------------------------------------------------------------------


async def test_one_client_is_limited_per_door_with_retry_after(settings, bus, store) -> None:
    async with client_for(settings, bus, store, per_ip="3/minute") as client:
        answers = [await client.post("/api/leads", json={**LEAD, "email": f"p{i}@n.example"}) for i in range(4)]
        form = [await client.post("/", content="x=1", headers={"content-type": "application/x-www-form-urlencoded"})
                for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert int(answers[3].headers["Retry-After"]) >= 1 and "SDR_INTAKE_RATE_PER_IP" in answers[3].json()["detail"]
    assert [f.status_code for f in form] == [422, 422, 422, 429]  # each door counts on its own
    assert len(bus.topics[INCOMING_LEADS]) == 3


async def test_one_address_is_limited_whatever_client_sends_it(settings, bus, store) -> None:
    async with client_for(settings, bus, store, per_address="2/hour") as client:
        await client.post("/api/leads", json=LEAD)
        posts = [await client.post("/api/inbound-email",
                                   **webhook_post({"from": LEAD["email"], "body": f"reply {i}"}, settings))
                 for i in range(3)]
    assert [p.status_code for p in posts] == [202, 202, 429]
    assert "SDR_INTAKE_RATE_PER_ADDRESS" in posts[2].json()["detail"] and len(replies(bus)) == 2


# --- the internal door ----------------------------------------------------------------------------


async def test_the_internal_door_answers_signed_callers_only(settings, bus, store) -> None:
    secret = dispatch_secret(settings)
    async with client_for(settings, bus, store) as client:
        lead_id = (await client.post("/api/leads", json=LEAD)).json()["lead_id"]
        url = f"{BASE}/internal/leads/{lead_id}"
        unsigned = await client.get(url)
        other_lead = await client.get(url, headers=request_headers(b"", secret, url=f"{BASE}/internal/leads/x",
                                                                   method="GET"))
        signed = await client.get(url, headers=request_headers(b"", secret, url=url, method="GET"))
        unknown_url = f"{BASE}/internal/leads/never-seen"
        unknown = await client.get(unknown_url, headers=request_headers(b"", secret, url=unknown_url, method="GET"))
    assert unsigned.status_code == other_lead.status_code == 401
    assert signed.status_code == 200
    known = LeadAddresses.model_validate(signed.json())
    assert (known.lead_id, known.email, known.reply_addresses) == (lead_id, LEAD["email"], ())
    assert unknown.status_code == 404 and "never seen" in unknown.json()["detail"]


def test_a_recorded_address_is_never_replaced(store) -> None:
    store.record("lead-1", Lead(email="Jo@northwind-logistics.example", name="Jo"))
    store.record("lead-1", Lead(email="attacker@evil.example", name="Jo W."))  # e.g. a record on incoming_leads
    known = store.addresses("lead-1")
    assert known.email == "jo@northwind-logistics.example" and not known.allows("attacker@evil.example")
    assert store.get("lead-1").lead.email == "jo@northwind-logistics.example"
    assert store.get("lead-1").lead.name == "Jo W."  # the other fields do follow the latest record
    assert store.thread("lead-1") == store.thread("lead-1") == known.thread
    assert store.thread("lead-2") != known.thread
