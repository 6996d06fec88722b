"""Intake end to end into the real Kafka broker: the intake service as `infra up` runs it (its own
process, with the bridge), a lead and a signed reply posted over HTTP, both seen on incoming_leads and,
bridged as hop 0, on agent_messages; the lead's addresses read back through the signed /internal door."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sdr_pipeline.contracts import (
    AGENT_MESSAGES,
    INCOMING_LEADS,
    Envelope,
    LeadAddresses,
    email_message_id,
    parse_envelope,
)
from sdr_pipeline.contracts.signing import request_headers
from sdr_pipeline.infra import process
from sdr_pipeline.infra.bus import KafkaBus
from sdr_pipeline.intake import process_spec
from sdr_pipeline.settings import Settings
from tests.conftest import free_port
from tests.signing import dispatch_secret, webhook_post

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def intake_service(kafka: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = kafka.model_copy(update={"state_dir": tmp_path_factory.mktemp("intake-state"),
                                        "intake_port": free_port()})
    process.start(process_spec(settings), settings)
    yield settings
    process.stop("intake", settings)


def wait_for(bus: KafkaBus, topic: str, predicate, *, timeout_s: float = 30.0) -> list[Envelope]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [envelope for envelope in (parse_envelope(r.value) for r in bus.read([topic], idle_timeout_s=1.0))
                 if predicate(envelope)]
        if found:
            return found
    raise AssertionError(f"nothing matching on {topic} within {timeout_s:g} s")


def test_lead_and_reply_reach_agent_messages(intake_service: Settings) -> None:
    base = f"http://{intake_service.intake_host}:{intake_service.intake_port}"
    bus = KafkaBus(intake_service.bootstrap_servers, client_id="intake-e2e")
    try:
        lead = {"name": "Kai Kafka", "email": "kai@lumen-retail.example", "company_name": "Lumen Retail"}
        accepted = httpx.post(f"{base}/api/leads", json=lead, timeout=10)
        assert accepted.status_code == 201, accepted.text
        lead_id, message_id = accepted.json()["lead_id"], accepted.json()["message_id"]

        [incoming] = wait_for(bus, INCOMING_LEADS, lambda e: e.message_id == message_id)
        bridged = wait_for(bus, AGENT_MESSAGES, lambda e: e.message_id == message_id)
        assert incoming.lead_id == lead_id and bridged[0].hop == 0 and bridged[0].produced_by == "web_form"

        door = f"{base}/internal/leads/{lead_id}"
        assert httpx.get(door, timeout=10).status_code == 401, "the internal door answers signed callers only"
        known = httpx.get(door, timeout=10, headers=request_headers(b"", dispatch_secret(intake_service), url=door,
                                                                     method="GET"))
        assert known.status_code == 200, known.text
        addresses = LeadAddresses.model_validate(known.json())
        assert addresses.email == "kai@lumen-retail.example" and addresses.allows("KAI@lumen-retail.example")

        reply = {"from": "kai@lumen-retail.example", "to": "sdr@example.com", "subject": "Re: hello",
                 "body": "Send me a price list, please.",
                 "in_reply_to": email_message_id(thread=addresses.thread, message_id="x", index=0,
                                                 domain="example.com", secret=dispatch_secret(intake_service))}
        unsigned = httpx.post(f"{base}/api/inbound-email", json=reply, timeout=10)
        assert unsigned.status_code == 401 and "signature" in unsigned.json()["detail"]
        answered = httpx.post(f"{base}/api/inbound-email", timeout=10, **webhook_post(reply, intake_service))
        assert answered.status_code == 202, answered.text
        reply_id = answered.json()["message_id"]
        [bridged_reply] = wait_for(bus, AGENT_MESSAGES, lambda e: e.message_id == reply_id)
        assert bridged_reply.lead_id == lead_id and bridged_reply.produced_by == "inbound_email"

        unknown = httpx.post(f"{base}/api/inbound-email", timeout=10,
                             **webhook_post({"from": "who@else.example", "body": "hi"}, intake_service))
        malformed = httpx.post(f"{base}/api/leads", content=b"{oops", timeout=10,
                               headers={"content-type": "application/json"})
        assert unknown.status_code == 404 and malformed.status_code == 400
        health = httpx.get(f"{base}/health", timeout=5)
        assert health.status_code == 200  # nothing else was affected
        status = health.json()["bridge"]
        assert status["alive"] and status["forwarded"] >= 2 and status["restarts"] == 0
        assert status["heartbeat_age_s"] < status["stale_after_s"]
    finally:
        bus.close()


def test_log_names_the_refusals(intake_service: Settings) -> None:
    log = Path(intake_service.logs_dir / "intake.log").read_text(errors="replace")
    assert "refused with 404" in log and "refused with 400" in log and "refused with 401" in log
