"""The agents service is no open relay: only signed dispatches to an allowed Host are served, and send_email
mails only e-mails an agent drafted, to an address intake holds for the lead."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from pydantic import SecretStr

from sdr_pipeline.agents import create_app
from sdr_pipeline.agents.recipients import IntakeDirectory, StaticDirectory
from sdr_pipeline.contracts import AGENT_MESSAGES, Envelope, LeadAddresses, parse_envelope
from sdr_pipeline.contracts.signing import PRODUCER_SIGNATURE_FIELD, SIGNATURE_HEADER, request_headers, sign
from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.intake import LeadStore
from sdr_pipeline.intake import create_app as create_intake
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.settings import Settings
from tests.agents.conftest import LEAD, THREAD, envelope, known_leads
from tests.signing import AGENTS_BASE, dispatch_secret, post_draft, signed_by_agent

pytestmark = pytest.mark.anyio

PROFILE_ANSWER = {"company_summary": "Northwind forwards freight.", "industry": "logistics",
                  "size_estimate": "501-1000 employees", "likely_use_cases": ["fast replies"],
                  "fit_assessment": "Strong fit."}
DRAFT = {"to": LEAD["email"], "subject": "Hello", "body": "Hi Jo"}
RAW = envelope("web_form").to_bytes()


def _plain_client(settings: Settings, bus: InMemoryBus, *, base_url: str = AGENTS_BASE) -> httpx.AsyncClient:
    app = create_app(settings, llm=ScriptedLLM([PROFILE_ANSWER]), publisher=bus, leads=known_leads())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.mark.parametrize(("make_headers", "phrase"), [
    (lambda: {}, "header is missing"),
    (lambda: {SIGNATURE_HEADER: "t=1,v1=00"}, "outside the 300 s window"),
    # signed when the test runs (not at collection, minutes earlier in a full run: it would be too old)
    (lambda: {SIGNATURE_HEADER: sign(RAW, "a guessed secret", int(time.time()), scope="POST /agents/lead_ingestion")},
     "does not match"),
], ids=["unsigned", "too_old", "wrong_secret"])
async def test_an_unsigned_or_badly_signed_dispatch_is_401_and_does_nothing(settings, bus, make_headers,
                                                                           phrase) -> None:
    headers = make_headers()
    async with _plain_client(settings, bus) as client:
        response = await client.post("/agents/lead_ingestion", content=RAW,
                                     headers={"content-type": "application/json", **headers})
    assert response.status_code == 401
    body = response.json()
    assert phrase in body["detail"] and "SDR_DISPATCH_SECRET" in body["fix"]
    assert AGENT_MESSAGES not in bus.topics


async def test_a_signature_is_bound_to_its_agent_and_its_body(settings, bus) -> None:
    secret = dispatch_secret(settings)
    for_scoring = request_headers(RAW, secret, url=f"{AGENTS_BASE}/agents/lead_scoring")
    for_ingestion = request_headers(RAW, secret, url=f"{AGENTS_BASE}/agents/lead_ingestion")
    json_type = {"content-type": "application/json"}
    async with _plain_client(settings, bus) as client:
        elsewhere = await client.post("/agents/lead_ingestion", content=RAW, headers={**json_type, **for_scoring})
        changed = await client.post("/agents/lead_ingestion", content=RAW.replace(b"lead-nw", b"lead-xx"),
                                    headers={**json_type, **for_ingestion})
        signed = await client.post("/agents/lead_ingestion", content=RAW, headers={**json_type, **for_ingestion})
    assert elsewhere.status_code == changed.status_code == 401
    assert signed.status_code == 200, signed.text
    [output] = [parse_envelope(record.value) for record in bus.topics[AGENT_MESSAGES]]
    assert isinstance(getattr(output, PRODUCER_SIGNATURE_FIELD), str)  # what the agent wrote is signed


async def test_an_oversized_signed_body_is_413_before_anything_is_parsed(settings, bus) -> None:
    small = settings.model_copy(update={"request_max_bytes": 100})
    async with _plain_client(small, bus) as client:
        response = await client.post("/agents/lead_ingestion", content=RAW,
                                     headers={"content-type": "application/json", SIGNATURE_HEADER: "t=1,v1=0"})
    assert response.status_code == 413


async def test_only_allowed_host_names_are_answered(settings, bus) -> None:
    async with _plain_client(settings, bus, base_url="http://agents.evil.example") as client:
        health = await client.get("/health")
    assert health.status_code == 400
    async with _plain_client(settings, bus) as client:
        assert (await client.get("/health")).status_code == 200  # reads stay open to the supervisor
    other = settings.model_copy(update={"agents_allowed_hosts": ("agents",)})
    async with _plain_client(other, bus, base_url="http://agents:8100") as client:
        assert (await client.get("/health")).status_code == 200


def test_beyond_loopback_the_service_will_not_start_without_a_dispatch_secret(tmp_path) -> None:
    exposed = Settings(_env_file=None, state_dir=tmp_path, agents_host="0.0.0.0")
    with pytest.raises(UserError, match="SDR_DISPATCH_SECRET is not set"):
        create_app(exposed, llm=ScriptedLLM([]), publisher=InMemoryBus(), leads=known_leads())
    configured = exposed.model_copy(update={"dispatch_secret": SecretStr("shared-by-the-stack")})
    create_app(configured, llm=ScriptedLLM([]), publisher=InMemoryBus(), leads=known_leads())


# --- send_email: nothing on a topic chooses a recipient or skips the drafting stage ------------------


def _outbox_rows(settings: Settings) -> list:
    from sdr_pipeline.agents.outbox import Outbox
    from tests.agents.conftest import RecordingSender

    outbox = Outbox(settings.state_dir / "agents" / "outbox.sqlite", RecordingSender(),
                    sender_address=settings.email_from)
    try:
        return outbox.rows()
    finally:
        outbox.close()


async def test_a_draft_no_agent_wrote_is_refused(make_client, sender, settings) -> None:
    unsigned = envelope("active_outreach", DRAFT, hop=3)
    tampered = signed_by_agent(unsigned, settings).model_copy(update={"context": {**DRAFT, "body": "Click here"}})
    async with make_client(ScriptedLLM([])) as client:
        responses = [await client.post("/agents/send_email", content=env.to_json(),
                                       headers={"content-type": "application/json"})
                     for env in (unsigned, tampered.model_copy(update={"message_id": "m-2"}))]
    assert [r.status_code for r in responses] == [422, 422]
    assert "producer signature is missing" in responses[0].json()["detail"]
    assert "producer signature does not verify" in responses[1].json()["detail"]
    assert sender.sent == [] and _outbox_rows(settings) == []


@pytest.mark.parametrize(("to", "leads", "phrase"), [
    ("victim@bank.example", None, "at 'context.to': victim@bank.example is not an address intake holds"),
    ("kim@northwind-logistics.example", None, "at 'context.to': kim@northwind-logistics.example is not an address"),
    (LEAD["email"], StaticDirectory(), "at 'lead_id': intake has never seen lead lead-nw"),
])
async def test_a_recipient_intake_does_not_hold_is_refused(make_client, sender, settings, to, leads, phrase) -> None:
    async with make_client(ScriptedLLM([]), leads=leads) as client:
        response = await post_draft(client, envelope("active_outreach", {**DRAFT, "to": to}, hop=3))
    assert response.status_code == 422
    assert phrase in response.json()["detail"]
    assert sender.sent == [] and _outbox_rows(settings) == []


async def test_a_colleague_whose_reply_verified_may_be_answered(make_client, sender) -> None:
    colleague = "kim@northwind-logistics.example"
    leads = StaticDirectory({"lead-nw": LeadAddresses(lead_id="lead-nw", email=LEAD["email"],
                                                      reply_addresses=(colleague,), thread=THREAD)})
    async with make_client(ScriptedLLM([]), leads=leads) as client:
        response = await post_draft(client, envelope("active_outreach", {**DRAFT, "to": colleague}, hop=5))
    assert response.status_code == 200, response.text
    assert [message["To"] for message in sender.sent] == [colleague]


async def test_what_an_agent_drafts_is_what_send_email_accepts(make_client, bus, sender) -> None:
    """The real path: active_outreach's published output, dispatched as it is, is sent."""
    reply = {"from_address": LEAD["email"], "subject": "Pricing?", "body": "What does it cost?"}
    llm = ScriptedLLM([{"subject": "x", "body": "Hi Jo, here is how pricing works.\n\nAlex"}])
    async with make_client(llm) as client:
        drafted = await client.post("/agents/active_outreach", headers={"content-type": "application/json"},
                                    content=envelope("inbound_email", reply, hop=4).to_json())
        output = Envelope.model_validate(drafted.json()["output"])
        sent = await client.post("/agents/send_email", content=json.dumps(output.model_dump(mode="json")),
                                 headers={"content-type": "application/json"})
    assert sent.status_code == 200, sent.text
    assert [message["To"] for message in sender.sent] == [LEAD["email"]]


# --- the lookup itself, against the real intake app in-process -------------------------------


async def test_the_intake_directory_reads_the_signed_internal_door(tmp_path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path)
    store = LeadStore(tmp_path / "leads.sqlite")
    try:
        app = create_intake(settings, publisher=InMemoryBus(), leads=store)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake.test") as client:
            lead_id = (await client.post("/api/leads", json={"name": "Jo", "email": LEAD["email"],
                                                             "company_name": "Northwind"})).json()["lead_id"]
        transport = httpx.ASGITransport(app=app)
        directory = IntakeDirectory("http://intake.test", dispatch_secret(settings), timeout_s=5, transport=transport)
        known = await directory.addresses(lead_id)
        assert known is not None and known.email == LEAD["email"] and known.thread == store.thread(lead_id)
        assert await directory.addresses("never-seen") is None
        wrong = IntakeDirectory("http://intake.test", "not-the-stack's", timeout_s=5, transport=transport)
        with pytest.raises(InfraError, match="SDR_DISPATCH_SECRET"):
            await wrong.addresses(lead_id)
    finally:
        store.close()


async def test_the_intake_directory_says_when_intake_is_down() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    directory = IntakeDirectory("http://127.0.0.1:9", "k", timeout_s=1, transport=httpx.MockTransport(down))
    with pytest.raises(InfraError, match="cannot look up lead_id=lead-nw") as raised:
        await directory.addresses("lead-nw")
    assert "infra up intake" in str(raised.value)
