"""Fixtures for agent tests: settings in a temp folder, an in-memory bus, envelopes per stage,
and a helper that builds the agents app around a scripted LLM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from sdr_pipeline.agents import Outbox, create_app
from sdr_pipeline.agents.recipients import StaticDirectory
from sdr_pipeline.agents.tools import ResearchTools, crm_lookup, enrichment_lookup
from sdr_pipeline.contracts import Envelope, LeadAddresses
from sdr_pipeline.infra.bus import InMemoryBus
from sdr_pipeline.settings import Settings
from tests.signing import agents_client

PROFILE = {
    "company_name": "Northwind Logistics",
    "company_summary": "Northwind Logistics runs freight forwarding across Europe.",
    "industry": "freight and logistics",
    "size_estimate": "501-1000 employees",
    "likely_use_cases": ["answering inbound freight quote requests fast"],
    "fit_assessment": "Strong: many inbound leads and a planned Q1 budget.",
    "sources": ["lead", "crm_fixture"],
}
LEAD = {"name": "Jo Weber", "email": "jo@northwind-logistics.example", "company_name": "Northwind Logistics",
        "company_website": "https://northwind-logistics.example", "job_title": "Head of Sales Ops",
        "project_description": "We lose inbound leads because nobody answers within a day."}


THREAD = "0123456789abcdef0123"
"""lead-nw's thread token, as intake would have made it."""


def known_leads(**extra: LeadAddresses) -> StaticDirectory:
    """What intake holds: lead-nw at its own address (plus `extra` leads), for send_email to check against."""
    return StaticDirectory({"lead-nw": LeadAddresses(lead_id="lead-nw", email=LEAD["email"], thread=THREAD), **extra})


class RecordingSender:
    """An EmailSender that keeps what it was asked to send (the real SMTP path has its own test)."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def envelope(produced_by: str, context: object = None, *, hop: int = 0, message_id: str = "m-1") -> Envelope:
    return Envelope(message_id=message_id, lead_id="lead-nw", hop=hop, produced_by=produced_by, lead=LEAD,
                    context=context, trace_id="trace-1")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", website_fetch=False)


@pytest.fixture
def bus() -> InMemoryBus:
    return InMemoryBus()


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def make_client(settings: Settings, bus: InMemoryBus, sender: RecordingSender) -> Iterator[Callable[..., httpx.AsyncClient]]:
    """make_client(llm, research=None) -> an httpx client talking to the app in-process, signing like the job;
    send_email knows lead-nw (`known_leads`) unless `leads` says otherwise."""
    outboxes: list[Outbox] = []

    def build(llm: object, *, research: ResearchTools | None = None, app_settings: Settings | None = None,
              leads: StaticDirectory | None = None) -> httpx.AsyncClient:
        used = app_settings or settings
        outbox = Outbox(used.state_dir / "agents" / "outbox.sqlite", sender, sender_address=used.email_from)
        outboxes.append(outbox)
        tools = research or ResearchTools(crm=crm_lookup(used), enrichment=enrichment_lookup(used), website=None)
        app = create_app(used, llm=llm, publisher=bus, research=tools, outbox=outbox, leads=leads or known_leads())
        return agents_client(app, used)

    yield build
    for outbox in outboxes:
        outbox.close()


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The real local SMTP server (infra.smtp, aiosmtpd) as `infra up` starts it, on a free port."""
    from sdr_pipeline.infra import process
    from sdr_pipeline.infra.smtp import process_spec
    from tests.conftest import free_port

    smtp_settings = Settings(state_dir=tmp_path_factory.mktemp("smtp-state"), smtp_port=free_port())
    process.start(process_spec(smtp_settings), smtp_settings)
    yield smtp_settings
    process.stop("smtp", smtp_settings)


@pytest.fixture
def anyio_backend() -> str:
    """The app uses asyncio (to_thread, timeout); trio is installed (by selenium) but not a target."""
    return "asyncio"
