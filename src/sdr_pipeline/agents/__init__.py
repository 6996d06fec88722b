"""The SDR agents: one module per registry entry, served together by one FastAPI app.

    app = create_app(settings, llm=client, publisher=bus)     # in-process (tests)
    sdr-pipeline agents serve                                 # for real

An agent module `sdr_pipeline.agents.<name>` has `async def handle(envelope, deps) -> AgentWork`;
the app does input validation, idempotency, output validation and publishing around it.
"""

from sdr_pipeline.agents.app import create_app, load_handler, output_message_id
from sdr_pipeline.agents.idempotency import IdempotencyStore
from sdr_pipeline.agents.outbox import EmailSender, Outbox, OutboxRow, OutgoingEmail, SmtpSender
from sdr_pipeline.agents.recipients import IntakeDirectory, LeadDirectory, StaticDirectory
from sdr_pipeline.agents.runtime import AgentDeps, AgentHandler, AgentWork, Publisher, ask_model
from sdr_pipeline.agents.service import build_app, process_spec, serve

__all__ = [
    "AgentDeps",
    "AgentHandler",
    "AgentWork",
    "EmailSender",
    "IdempotencyStore",
    "IntakeDirectory",
    "LeadDirectory",
    "Outbox",
    "OutboxRow",
    "OutgoingEmail",
    "Publisher",
    "SmtpSender",
    "StaticDirectory",
    "ask_model",
    "build_app",
    "create_app",
    "load_handler",
    "output_message_id",
    "process_spec",
    "serve",
]
