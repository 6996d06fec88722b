"""Agents publishing to the real Kafka broker.

The first test runs the app in-process with a scripted model; the second runs the agents
service as `infra up` does (its own process, the real local model) and is the issue's
"done when": a raw lead posted to lead_ingestion yields a validated profile envelope on
agent_messages.
"""

from __future__ import annotations

import time

import httpx
import pytest

from sdr_pipeline.agents import create_app, process_spec
from sdr_pipeline.agents.tools import ResearchTools, crm_lookup, enrichment_lookup
from sdr_pipeline.contracts import AGENT_MESSAGES, Envelope, ResearchProfile, parse_envelope
from sdr_pipeline.infra import process
from sdr_pipeline.infra.bus import KafkaBus
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.settings import Settings
from sdr_pipeline.contracts.signing import request_headers
from tests.agents.conftest import LEAD
from tests.conftest import free_port
from tests.signing import agents_client, dispatch_secret

PROFILE_ANSWER = {
    "company_summary": "Northwind Logistics forwards freight across Europe.", "industry": "logistics",
    "size_estimate": "501-1000 employees", "likely_use_cases": ["fast quote replies"],
    "fit_assessment": "Strong fit.",
}


def find_on_agent_messages(bus: KafkaBus, parent_id: str, *, timeout_s: float = 30.0) -> list[Envelope]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [e for e in (parse_envelope(r.value) for r in bus.read([AGENT_MESSAGES], idle_timeout_s=1.0))
                 if e.parent_message_id == parent_id]
        if found:
            return found
    raise AssertionError(f"no envelope with parent {parent_id} on {AGENT_MESSAGES}")


@pytest.mark.kafka
@pytest.mark.anyio
async def test_output_envelope_is_on_kafka_before_the_answer(kafka: Settings, tmp_path) -> None:
    settings = kafka.model_copy(update={"state_dir": tmp_path / "state"})
    bus = KafkaBus(settings.bootstrap_servers, client_id="agents-kafka-test")
    tools = ResearchTools(crm=crm_lookup(settings), enrichment=enrichment_lookup(settings), website=None)
    app = create_app(settings, llm=ScriptedLLM([PROFILE_ANSWER]), publisher=bus, research=tools)
    env = Envelope(lead_id="lead-kafka-1", produced_by="web_form", lead=LEAD)
    try:
        async with agents_client(app, settings) as client:
            response = await client.post("/agents/lead_ingestion", content=env.to_json(),
                                         headers={"content-type": "application/json"})
            again = await client.post("/agents/lead_ingestion", content=env.to_json(),
                                      headers={"content-type": "application/json"})
        assert response.status_code == 200, response.text
        # KafkaBus.publish waits for the broker's ack, so the record is there already.
        found = [(record, parse_envelope(record.value)) for record in bus.read([AGENT_MESSAGES], idle_timeout_s=2.0)]
        mine = [(record, e) for record, e in found if e.parent_message_id == env.message_id]
        assert len(mine) == 1 and again.json()["replayed"] is True
        [(record, output)] = mine
        assert record.key == "lead-kafka-1"  # keyed by lead, so one lead's messages stay in order
        ResearchProfile.model_validate(output.context)
    finally:
        bus.close()


@pytest.mark.kafka
@pytest.mark.llm
def test_agents_service_with_local_model_publishes_a_profile(kafka: Settings, llm_server_qwen: Settings,
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = llm_server_qwen.model_copy(update={
        "state_dir": tmp_path_factory.mktemp("agents-service"), "agents_port": free_port(),
        "kafka_port": kafka.kafka_port, "kafka_bootstrap": kafka.kafka_bootstrap, "website_fetch": False,
        "agents_llm_timeout_s": 900.0,
    })
    process.start(process_spec(settings), settings)
    bus = KafkaBus(settings.bootstrap_servers, client_id="agents-service-test")
    try:
        env = Envelope(lead_id="lead-kafka-2", produced_by="web_form", lead=LEAD)
        url = f"http://{settings.agents_host}:{settings.agents_port}/agents/lead_ingestion"
        unsigned = httpx.post(url, content=env.to_json(), headers={"content-type": "application/json"}, timeout=30)
        assert unsigned.status_code == 401, "the service refuses a dispatch the job did not sign"
        signed = {"content-type": "application/json",
                  **request_headers(env.to_bytes(), dispatch_secret(settings), url=url)}
        response = httpx.post(url, content=env.to_json(), headers=signed, timeout=900)
        assert response.status_code == 200, response.text
        [output] = find_on_agent_messages(bus, env.message_id)
        assert output.produced_by == "lead_ingestion" and output.hop == 1 and output.lead_id == "lead-kafka-2"
        profile = ResearchProfile.model_validate(output.context)
        assert profile.company_summary and profile.fit_assessment
    finally:
        bus.close()
        process.stop("agents", settings)
