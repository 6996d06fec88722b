"""send_email: send drafted e-mails (or schedule the later ones of a sequence), exactly once, and never to
anyone who opted out.

No model here: the e-mails go into the outbox keyed on (message id, index), the due ones
are sent over SMTP right away, and the answer is a delivery report. A replay of the same
message finds the rows already sent and reports them without sending again. An e-mail to a
suppressed address is recorded as `cancelled`, and the report says why.

Nothing written to a topic chooses a recipient or skips the writing stage. Before anything is
queued, send_email refuses (422, the reason in the dead letter) drafted e-mails that

- no agent of this service wrote: their `producer_signature` does not verify;
- go to a lead intake never saw, or to an address intake does not hold for the lead (its own,
  or a colleague's whose reply to one of our signed Message-IDs verified).

Each e-mail's Message-ID carries the lead's opaque thread token and an HMAC, never the lead id.

The agent also learns from the pipeline who must get no more e-mail (`learn`, fed by the
agents service from `OPT_OUT_TOPICS`): a prospect's reply on agent_messages (produced_by
inbound_email) that unsubscribes or is a hard bounce suppresses the address; a lead whose
workflow stops on workflow_events (ended or limit) for any reason other than its own delivery
report has its unsent e-mails cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from sdr_pipeline.agents.app import output_message_id
from sdr_pipeline.agents.opt_outs import opt_out_in_reply
from sdr_pipeline.agents.outbox import Outbox, OutboxRow, OutgoingEmail, SmtpSender
from sdr_pipeline.agents.recipients import IntakeDirectory
from sdr_pipeline.agents.runtime import AgentDeps, AgentWork
from sdr_pipeline.backoff import Backoff
from sdr_pipeline.contracts import (
    AGENT_MESSAGES,
    WORKFLOW_EVENTS,
    Delivery,
    DeliveryReport,
    LeadAddresses,
    NurtureSequence,
    OutreachEmail,
    SendEmailInput,
    email_message_id,
    parse_envelope,
)
from sdr_pipeline.contracts.signing import PRODUCER_SIGNATURE_FIELD, matches, producer_signature
from sdr_pipeline.contracts.workflow import WorkflowEvent
from sdr_pipeline.exceptions import ContractError, InfraError, UserError
from sdr_pipeline.settings import Settings

if TYPE_CHECKING:
    from sdr_pipeline.infra.bus import GroupConsumer, Record

__all__ = ["OPT_OUT_GROUP", "OPT_OUT_TOPICS", "default_outbox", "drafted_emails", "handle", "learn",
           "opt_out_consumer"]

logger = logging.getLogger(__name__)

NAME = "send_email"

OPT_OUT_TOPICS = (AGENT_MESSAGES, WORKFLOW_EVENTS)
"""Where the pipeline learns of opt-outs (replies, bounces) and of leads that stopped."""
OPT_OUT_GROUP = "agents-opt-outs"
"""Consumer group of the agents service's opt-out watcher; offsets move only after a record is learnt. One group
per outbox file: agents replicas sharing one outbox share the group, a replica with its own outbox needs its own."""

_INBOUND_EMAIL = "inbound_email"
_STOPS = frozenset({"ended", "limit"})
_CONTRACT = "drafted_emails"


def default_outbox(settings: Settings) -> Outbox:
    """The outbox under the state directory, sending through the configured SMTP server."""
    return Outbox(settings.state_dir / "agents" / "outbox.sqlite", SmtpSender(settings),
                  sender_address=settings.email_from, retry=Backoff(settings.outbox_max_attempts, settings.outbox_retry_initial_s,
                                settings.outbox_retry_max_s),
                  stale_claim_s=settings.outbox_claim_timeout_s, unsubscribe_to=settings.email_unsubscribe_to, unsubscribe_url=settings.email_unsubscribe_url)


def opt_out_consumer(settings: Settings, *, group: str = OPT_OUT_GROUP) -> GroupConsumer:
    """The Kafka consumer the agents service learns opt-outs and stops from (from the start of the topics the
    first time, so opt-outs from before the service ran count too)."""
    from sdr_pipeline.infra.bus import GroupConsumer

    return GroupConsumer(settings.bootstrap_servers, OPT_OUT_TOPICS, group=group, client_id="sdr-agents-opt-outs")


def _mail_domain(settings: Settings) -> str:
    return settings.email_from.rsplit("@", 1)[-1] or "sdr-pipeline.invalid"


def drafted_emails(envelope: SendEmailInput, settings: Settings, *, thread: str, secret: str) -> list[OutgoingEmail]:
    """The drafted e-mails of the envelope as outbox entries, each with its deterministic, signed Message-ID
    (`thread` is the lead's token from intake, `secret` the dispatch secret)."""
    context = envelope.context
    domain = _mail_domain(settings)

    def message_id(index: int) -> str:
        return email_message_id(thread=thread, message_id=envelope.message_id, index=index, domain=domain,
                                secret=secret)

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
                 status=row.status if row.status in ("sent", "cancelled") else "scheduled",
                 send_at=row.sent_at if row.sent_at else row.send_at, smtp_message_id=row.smtp_message_id,
                 note=row.last_error if row.status == "cancelled" else None)
        for row in sorted(rows, key=lambda row: row.index)
    ]

    def count(status: str) -> int:
        return sum(delivery.status == status for delivery in deliveries)

    return DeliveryReport(deliveries=deliveries, sent_count=count("sent"), scheduled_count=count("scheduled"),
                          cancelled_count=count("cancelled"))


def _undelivered(rows: list[OutboxRow], retry: Backoff) -> InfraError | None:
    """Why a due e-mail of this message did not go out, as the error the caller answers 503 with; None if
    every e-mail was sent, scheduled or cancelled on purpose (then the report tells the truth)."""
    for row in sorted(rows, key=lambda row: row.index):
        where = f"e-mail {row.index} of message_id={row.message_id} lead_id={row.lead_id}"
        if row.status == "failed":
            return InfraError("smtp", f"{where} failed for good: {row.last_error}",
                              fix="fix the cause, then requeue it (Outbox.retry_failed) and dispatch the message "
                                  "again; `sdr-pipeline agents outbox` shows it")
        if row.status == "pending":
            retry_at = row.retry_at.isoformat(timespec="seconds") if row.retry_at else "the next scheduler pass"
            return InfraError("smtp", f"{where} not sent yet (attempt {row.attempts} of {retry.attempts}): "
                                      f"{row.last_error}",
                              fix=f"nothing to do if the mail server comes back: the outbox tries again at "
                                  f"{retry_at}, and a retried dispatch reports it")
        if row.status == "sending":
            return InfraError("smtp", f"{where} is being sent by another worker right now",
                              fix="retry the dispatch shortly; it will report the e-mail once sent")
    return None


def _check_producer(envelope: SendEmailInput, secret: str) -> None:
    """Refuse drafted e-mails that no agent of this service wrote (ContractError, 422)."""
    if not secret:
        raise UserError("send_email has no dispatch secret to check who drafted an e-mail",
                        fix="build the agents service with create_app, which resolves SDR_DISPATCH_SECRET")
    given = getattr(envelope, PRODUCER_SIGNATURE_FIELD, None)
    expected = producer_signature(secret, message_id=envelope.message_id, lead_id=envelope.lead_id,
                                  produced_by=envelope.produced_by, context=envelope.context.model_dump(mode="json"))
    if not isinstance(given, str) or not matches(expected, given):
        problem = "is missing" if given is None else "does not verify"
        raise ContractError(_CONTRACT, f"the producer signature {problem}: send_email sends only e-mails an agent of "
                                       "this pipeline drafted, never ones written straight to a topic or changed "
                                       "on the way", field=PRODUCER_SIGNATURE_FIELD, lead_id=envelope.lead_id,
                            message_id=envelope.message_id)


async def _addresses(envelope: SendEmailInput, deps: AgentDeps) -> LeadAddresses:
    """What intake holds for the lead, checked against the drafted recipient (ContractError, 422, if refused)."""
    directory = deps.leads or IntakeDirectory.from_settings(deps.settings, deps.dispatch_secret)
    known = await directory.addresses(envelope.lead_id)
    ids = {"lead_id": envelope.lead_id, "message_id": envelope.message_id}
    if known is None:
        raise ContractError(_CONTRACT, f"intake has never seen lead {envelope.lead_id}, so there is no address "
                                       "send_email may write to; leads enter through intake (form, JSON endpoint, "
                                       "incoming_leads)", field="lead_id", **ids)
    recipient = envelope.context.to
    if not known.allows(recipient):
        others = f" or {', '.join(known.reply_addresses)}" if known.reply_addresses else ""
        raise ContractError(_CONTRACT, f"{recipient} is not an address intake holds for this lead (its own is "
                                       f"{known.email or 'unknown'}{others}); nothing is sent", field="context.to",
                            **ids)
    return known


async def handle(envelope: SendEmailInput, deps: AgentDeps) -> AgentWork:
    _check_producer(envelope, deps.dispatch_secret)
    known = await _addresses(envelope, deps)
    outbox = deps.outbox or default_outbox(deps.settings)
    emails = drafted_emails(envelope, deps.settings, thread=known.thread, secret=deps.dispatch_secret)
    suppressed = await asyncio.to_thread(outbox.suppression, emails[0].to)
    if suppressed is not None:
        logger.info("agent=%s message_id=%s lead_id=%s: %s is suppressed (%s); nothing is sent or scheduled",
                    NAME, envelope.message_id, envelope.lead_id, emails[0].to, suppressed.reason)
    await asyncio.to_thread(outbox.enqueue, message_id=envelope.message_id, lead_id=envelope.lead_id, emails=emails)
    await asyncio.to_thread(outbox.send_due, message_id=envelope.message_id, ignore_backoff=True)
    rows = await asyncio.to_thread(outbox.rows, envelope.message_id)
    problem = _undelivered(rows, outbox.retry)
    if problem is not None:
        raise problem
    return AgentWork(_report(rows))


# --- what the pipeline tells us about opt-outs and stops ---------------------------------------


def _text(context: dict[str, Any], *names: str) -> str:
    for name in names:
        value = context.get(name)
        if isinstance(value, str):
            return value
    return ""


def _learn_reply(outbox: Outbox, value: bytes) -> str | None:
    if _INBOUND_EMAIL.encode() not in value:
        return None  # most of agent_messages: not worth parsing
    try:
        envelope = parse_envelope(value)
    except ContractError:
        return None  # the routing job dead-letters what is not an envelope
    if envelope.produced_by != _INBOUND_EMAIL:
        return None
    context = envelope.context
    lead_address = envelope.lead.email
    if isinstance(context, dict):
        sender = _text(context, "from_address", "from") or lead_address or ""
        opt_out = opt_out_in_reply(sender=sender, subject=_text(context, "subject"), body=_text(context, "body"))
    elif isinstance(context, str):
        sender = lead_address or ""
        opt_out = opt_out_in_reply(sender=sender, subject="", body=context)
    else:
        return None
    if opt_out is None:
        return None
    if opt_out.kind == "bounce":
        addresses = {opt_out.address or lead_address}
    else:
        addresses = {sender, lead_address}
    addresses = {address for address in addresses if address and "@" in address}
    if not addresses:
        logger.warning("lead_id=%s message_id=%s: %s, but no address to suppress", envelope.lead_id,
                       envelope.message_id, opt_out.reason)
        return None
    for address in sorted(addresses):
        outbox.suppress(address, reason=opt_out.reason, lead_id=envelope.lead_id)
    return f"lead_id={envelope.lead_id} message_id={envelope.message_id}: {', '.join(sorted(addresses))} " \
           f"suppressed ({opt_out.reason})"


def _learn_stop(outbox: Outbox, value: bytes) -> str | None:
    try:
        event = WorkflowEvent.model_validate_json(value)
    except (ValidationError, ValueError):
        return None
    if event.kind not in _STOPS:
        return None
    ours = outbox.message_ids(event.lead_id)
    if not ours or event.message_id in {output_message_id(NAME, message_id) for message_id in ours}:
        return None  # nothing of this lead here, or the normal end: our own delivery report
    cancelled = outbox.cancel_lead(event.lead_id, reason=f"the lead stopped ({event.kind}: {event.reason})",
                                   before=event.at)
    return f"lead_id={event.lead_id}: {cancelled} unsent e-mail(s) cancelled ({event.kind})" if cancelled else None


def learn(outbox: Outbox, record: Record) -> str | None:
    """Apply one record of `OPT_OUT_TOPICS` to the outbox; returns what changed (for the log), or None.
    Idempotent, so a record read twice changes nothing more. A record it cannot read (a tombstone, JSON too
    deep) is skipped: the routing job dead-letters those. Only a failing outbox raises."""
    if record.value is None:
        return None
    try:
        if record.topic == AGENT_MESSAGES:
            return _learn_reply(outbox, record.value)
        if record.topic == WORKFLOW_EVENTS:
            return _learn_stop(outbox, record.value)
    except (ValueError, RecursionError) as error:
        logger.warning("opt-out watcher skipped %s[%d]@%d, which it cannot read (%s)", record.topic,
                       record.partition, record.offset, type(error).__name__)
    return None

