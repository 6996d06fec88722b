"""The opt-out watcher on the real broker: an unsubscribe reply and a stop event published to the topics reach
the agents service's outbox through its consumer group."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from sdr_pipeline.agents import create_app
from sdr_pipeline.agents.outbox import OutgoingEmail
from sdr_pipeline.agents.send_email import opt_out_consumer
from sdr_pipeline.contracts import AGENT_MESSAGES, WORKFLOW_EVENTS, Envelope
from sdr_pipeline.contracts.workflow import WorkflowEvent
from sdr_pipeline.infra.bus import InMemoryBus, KafkaBus
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.settings import Settings
from tests.agents.conftest import LEAD
from tests.agents.test_send_email_optouts import JO, outbox_at, scheduled_sequence

pytestmark = [pytest.mark.kafka, pytest.mark.anyio]


async def test_the_watcher_learns_opt_outs_and_stops_from_kafka(kafka: Settings, tmp_path) -> None:
    settings = kafka.model_copy(update={"state_dir": tmp_path / "state"})
    run = uuid.uuid4().hex[:8]
    outbox = outbox_at(settings)
    scheduled_sequence(outbox, message_id=f"seq-{run}")  # lead-nw: e-mail 0 sent, 7 and 30 days scheduled
    other = f"lead-other-{run}"
    bus = KafkaBus(settings.bootstrap_servers, client_id="opt-outs-test")
    try:
        bus.publish(AGENT_MESSAGES, Envelope(
            message_id=f"reply-{run}", lead_id="lead-nw", produced_by="inbound_email", lead=LEAD,
            context={"from_address": JO, "subject": "Re: E0", "body": "Please take me off your list."}))
        app = create_app(settings, llm=ScriptedLLM([]), publisher=InMemoryBus(), outbox=outbox,
                         opt_out_consumer=lambda: opt_out_consumer(settings, group=f"opt-outs-test-{run}"))
        async with app.router.lifespan_context(app):
            for _ in range(300):
                if outbox.suppression(JO) is not None:
                    break
                await asyncio.sleep(0.1)
            assert outbox.suppression(JO) is not None, "the reply on agent_messages was not learnt within 30 s"
            assert [row.status for row in outbox.rows(f"seq-{run}")] == ["sent", "cancelled", "cancelled"]
            # A lead stopping (here by a limit) cancels what it still has scheduled.
            outbox.enqueue(message_id=f"other-{run}", lead_id=other,
                           emails=[OutgoingEmail(0, "kim@x.example", "Later", "b", 7, None, f"<o.{run}@x>")])
            bus.publish(WORKFLOW_EVENTS, WorkflowEvent(kind="limit", limit="tokens", lead_id=other,
                                                       message_id=f"m-{run}", reason="routing tokens budget exceeded"))
            for _ in range(300):
                if [row.status for row in outbox.rows(f"other-{run}")] == ["cancelled"]:
                    break
                await asyncio.sleep(0.1)
        assert [row.status for row in outbox.rows(f"other-{run}")] == ["cancelled"]
    finally:
        bus.close()
        outbox.close()
