"""The outbox against the real local SMTP server: what arrives carries List-Unsubscribe, and the scheduler gets
every good e-mail out past a poisoned row and around a suppressed address."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sdr_pipeline.agents import create_app
from sdr_pipeline.agents.outbox import OutgoingEmail
from sdr_pipeline.agents.send_email import default_outbox
from sdr_pipeline.contracts import DeliveryReport
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.infra.smtp import read_mailbox
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.settings import Settings
from tests.agents.conftest import envelope, known_leads
from tests.signing import agents_client, post_draft

pytestmark = pytest.mark.anyio

DRAFT = {"to": "jo@northwind-logistics.example", "subject": "Answering every lead in minutes",
         "body": "Hi Jo,\n\nShall we talk on Tuesday?\n\nAlex"}


def received(smtp: Settings, message_id: str) -> list:
    return [mail for mail in read_mailbox(smtp) if mail["Message-ID"] == message_id]


async def test_a_sent_e_mail_carries_list_unsubscribe(smtp_server: Settings, tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", smtp_port=smtp_server.smtp_port,
                        email_unsubscribe_url="https://relay.example/unsubscribe")
    outbox = default_outbox(settings)
    app = create_app(settings, llm=ScriptedLLM([]), publisher=InMemoryBus(), outbox=outbox, leads=known_leads())
    async with agents_client(app, settings) as client:
        response = await post_draft(client, envelope("active_outreach", DRAFT, hop=3, message_id="unsub-1"))
    outbox.close()
    assert response.status_code == 200, response.text
    report = DeliveryReport.model_validate(response.json()["output"]["context"])
    [mail] = received(smtp_server, report.deliveries[0].smtp_message_id)
    targets = " ".join(str(mail["List-Unsubscribe"]).split())
    assert targets.startswith(f"<mailto:{settings.email_from}?subject=unsubscribe>, "
                              "<https://relay.example/unsubscribe?id=%3Csdr.")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_the_scheduler_sends_past_a_poisoned_row_and_skips_a_suppressed_address(smtp_server: Settings,
                                                                                      tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", smtp_port=smtp_server.smtp_port, outbox_poll_s=0.05)
    outbox = default_outbox(settings)
    tag = tmp_path.name

    def email(index: int, to: str, subject: str) -> OutgoingEmail:
        return OutgoingEmail(index, to, subject, "Hello again", 0, None, f"<{tag}.{index}@relay.example>")

    outbox.suppress("gone@northwind-logistics.example", reason="bounce: 550 5.1.1 user unknown")
    outbox.enqueue(message_id="poisoned", lead_id="lead-p",
                   emails=[email(0, "p@northwind-logistics.example", "Hi\r\nBcc: all@victim.example")])
    outbox.enqueue(message_id="good", lead_id="lead-g",
                   emails=[email(1, "jo@northwind-logistics.example", "Due one"),
                           email(2, "gone@northwind-logistics.example", "Never"),
                           email(3, "kim@northwind-logistics.example", "Due two")])
    app = create_app(settings, llm=ScriptedLLM([]), publisher=InMemoryBus(), outbox=outbox, send_scheduled=True)
    async with app.router.lifespan_context(app):
        for _ in range(200):
            if {row.status for row in outbox.rows()} <= {"sent", "failed", "cancelled"}:
                break
            await asyncio.sleep(0.05)
    statuses = {row.to: row.status for row in outbox.rows()}
    outbox.close()
    assert statuses == {"p@northwind-logistics.example": "failed", "jo@northwind-logistics.example": "sent",
                        "gone@northwind-logistics.example": "cancelled", "kim@northwind-logistics.example": "sent"}
    assert [len(received(smtp_server, f"<{tag}.{i}@relay.example>")) for i in range(4)] == [0, 1, 0, 1]
    assert not [mail for mail in read_mailbox(smtp_server) if "victim.example" in str(mail.get("Bcc", ""))]
