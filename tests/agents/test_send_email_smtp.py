"""send_email against the real local SMTP server: a replay never sends twice."""

from __future__ import annotations

import httpx
import pytest

from sdr_pipeline.agents import Outbox, SmtpSender, create_app
from sdr_pipeline.agents.tools import ResearchTools, crm_lookup, enrichment_lookup
from sdr_pipeline.contracts import AGENT_MESSAGES, DeliveryReport, parse_envelope
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.infra.smtp import read_mailbox
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.settings import Settings
from tests.agents.conftest import envelope, known_leads
from tests.conftest import free_port
from tests.signing import agents_client, post_draft

pytestmark = pytest.mark.anyio

DRAFT = {"to": "jo@northwind-logistics.example", "subject": "Answering every lead in minutes",
         "body": "Hi Jo,\n\nShall we talk on Tuesday?\n\nAlex"}


def app_client(settings: Settings, bus: InMemoryBus) -> tuple[httpx.AsyncClient, Outbox]:
    outbox = Outbox(settings.state_dir / "agents" / "outbox.sqlite", SmtpSender(settings),
                    sender_address=settings.email_from)
    tools = ResearchTools(crm=crm_lookup(settings), enrichment=enrichment_lookup(settings), website=None)
    app = create_app(settings, llm=ScriptedLLM([]), publisher=bus, research=tools, outbox=outbox, leads=known_leads())
    return agents_client(app, settings), outbox


def received(smtp: Settings, message_id: str) -> list:
    return [mail for mail in read_mailbox(smtp) if mail["Message-ID"] == message_id]


async def post(client: httpx.AsyncClient, env) -> httpx.Response:
    return await post_draft(client, env)


async def test_same_message_twice_gives_one_mail(smtp_server: Settings, tmp_path) -> None:
    settings = Settings(state_dir=tmp_path / "state", smtp_port=smtp_server.smtp_port)
    bus = InMemoryBus()
    env = envelope("active_outreach", DRAFT, hop=3, message_id="smtp-once-1")
    client, outbox = app_client(settings, bus)
    async with client:
        first = await post(client, env)
        second = await post(client, env)
    outbox.close()
    client, outbox = app_client(settings, bus)  # a restarted service on the same state
    async with client:
        third = await post(client, env)
    outbox.close()
    assert first.status_code == second.status_code == third.status_code == 200, first.text
    report = DeliveryReport.model_validate(first.json()["output"]["context"])
    [mail] = received(smtp_server, report.deliveries[0].smtp_message_id)
    assert mail["To"] == DRAFT["to"] and mail["Subject"] == DRAFT["subject"]
    assert "Tuesday" in mail.get_content()
    assert len(bus.topics[AGENT_MESSAGES]) == 1
    assert parse_envelope(bus.topics[AGENT_MESSAGES][0].value).produced_by == "send_email"


async def test_smtp_down_is_503_then_a_retry_sends_once(smtp_server: Settings, tmp_path) -> None:
    bus = InMemoryBus()
    env = envelope("active_outreach", DRAFT, hop=3, message_id="smtp-retry-1")
    down = Settings(state_dir=tmp_path / "state", smtp_port=free_port(), smtp_timeout_s=2.0)
    client, outbox = app_client(down, bus)
    async with client:
        failed = await post(client, env)
    outbox.close()
    assert failed.status_code == 503 and "smtp" in failed.json()["detail"]
    assert AGENT_MESSAGES not in bus.topics

    up = Settings(state_dir=tmp_path / "state", smtp_port=smtp_server.smtp_port)
    client, outbox = app_client(up, bus)
    async with client:
        retried = await post(client, env)
        replayed = await post(client, env)
    outbox.close()
    assert retried.status_code == 200 and replayed.json()["replayed"] is True
    report = DeliveryReport.model_validate(retried.json()["output"]["context"])
    assert report.sent_count == 1
    assert len(received(smtp_server, report.deliveries[0].smtp_message_id)) == 1
