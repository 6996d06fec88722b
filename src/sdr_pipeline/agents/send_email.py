"""send_email: send drafted e-mails (or schedule the later ones of a sequence), exactly once.

No model here: the e-mails go into the outbox keyed on (message id, index), the due ones
are sent over SMTP right away, and the answer is a delivery report. A replay of the same
message finds the rows already sent and reports them without sending again.
"""

from __future__ import annotations

import asyncio

from sdr_pipeline.agents.outbox import Outbox, OutboxRow, OutgoingEmail, SmtpSender
from sdr_pipeline.agents.runtime import AgentDeps, AgentWork
from sdr_pipeline.contracts import (
    Delivery,
    DeliveryReport,
    NurtureSequence,
    OutreachEmail,
    SendEmailInput,
    email_message_id,
)
from sdr_pipeline.settings import Settings

__all__ = ["default_outbox", "drafted_emails", "handle"]

NAME = "send_email"


def default_outbox(settings: Settings) -> Outbox:
    """The outbox under the state directory, sending through the configured SMTP server."""
    return Outbox(settings.state_dir / "agents" / "outbox.sqlite", SmtpSender(settings),
                  sender_address=settings.email_from)


def _mail_domain(settings: Settings) -> str:
    return settings.email_from.rsplit("@", 1)[-1] or "sdr-pipeline.invalid"


def drafted_emails(envelope: SendEmailInput, settings: Settings) -> list[OutgoingEmail]:
    """The drafted e-mails of the envelope as outbox entries, each with its deterministic Message-ID."""
    context = envelope.context
    domain = _mail_domain(settings)

    def message_id(index: int) -> str:
        return email_message_id(lead_id=envelope.lead_id, message_id=envelope.message_id, index=index, domain=domain)

    if isinstance(context, OutreachEmail):
        return [OutgoingEmail(0, context.to, context.subject, context.body, 0, context.in_reply_to, message_id(0))]
    assert isinstance(context, NurtureSequence)
    return [
        OutgoingEmail(index, context.to, email.subject, email.body, email.send_offset_days, None, message_id(index))
        for index, email in enumerate(context.emails)
    ]


def _report(rows: list[OutboxRow]) -> DeliveryReport:
    deliveries = [
        Delivery(index=row.index, to=row.to, subject=row.subject,
                 status="sent" if row.status == "sent" else "scheduled",
                 send_at=row.sent_at if row.sent_at else row.send_at, smtp_message_id=row.smtp_message_id)
        for row in sorted(rows, key=lambda row: row.index)
    ]
    sent = sum(delivery.status == "sent" for delivery in deliveries)
    return DeliveryReport(deliveries=deliveries, sent_count=sent, scheduled_count=len(deliveries) - sent)


async def handle(envelope: SendEmailInput, deps: AgentDeps) -> AgentWork:
    outbox = deps.outbox or default_outbox(deps.settings)
    emails = drafted_emails(envelope, deps.settings)
    await asyncio.to_thread(outbox.enqueue, message_id=envelope.message_id, lead_id=envelope.lead_id, emails=emails)
    await asyncio.to_thread(outbox.send_due, message_id=envelope.message_id)
    rows = await asyncio.to_thread(outbox.rows, envelope.message_id)
    return AgentWork(_report(rows))
