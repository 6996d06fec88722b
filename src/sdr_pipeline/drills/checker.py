"""The invariant checker: what a drill put in, what became of it, and whether the promises held.

Promises (README, issue 10): every lead ends, or is dead-lettered with a reason (or parked in
review for a person); the e-mails in the mailbox are exactly what the delivery reports say was
sent; nothing is done twice (no message dispatched twice, no agent output repeated for one input,
no Message-ID twice in the mailbox); no fork (two agents dispatched for one message); and every
poisoned or hostile record a drill injected got a dead letter with a reason, or a 4xx at its door.

`observe` reads the topics and the mailbox once; `settle` polls until each lead is over (bounded);
`judge` turns the observation into a `Report` whose `failures` name each broken promise.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage

from sdr_pipeline.contracts.topics import AGENT_MESSAGES, DEAD_LETTERS, NEEDS_REVIEW, ROUTING_DECISIONS, WORKFLOW_EVENTS
from sdr_pipeline.infra.bus import Bus, Record
from sdr_pipeline.orchestrator.journeys import TERMINAL_KINDS, Step, is_finished, journeys

__all__ = ["DoorAnswer", "DrillLead", "Observation", "Probe", "Report", "judge", "observe", "settle"]

logger = logging.getLogger(__name__)

CHECKED_TOPICS = (AGENT_MESSAGES, ROUTING_DECISIONS, WORKFLOW_EVENTS, DEAD_LETTERS, NEEDS_REVIEW)
_INTAKE_PRODUCERS = ("web_form", "crm_import", "inbound_email")


@dataclass(frozen=True)
class DrillLead:
    """A lead a drill put in and expects to end (or, with `may_dead_letter`, to be dead-lettered)."""

    lead_id: str
    email: str | None = None
    """Where its e-mails go: the mailbox is matched on it."""
    may_dead_letter: bool = False


@dataclass(frozen=True)
class Probe:
    """A poisoned record a drill injected on a topic: it must come back as a dead letter with a reason."""

    name: str
    door: str
    """Where it went in, e.g. `agent_messages` or `incoming_leads`."""
    matches: Callable[[dict], bool]
    """True for the dead letter this record became."""


@dataclass(frozen=True)
class DoorAnswer:
    """How an HTTP door answered one hostile input (`status`), judged on the spot."""

    name: str
    door: str
    status: int
    detail: str = ""

    @property
    def refused_clearly(self) -> bool:
        """A 4xx with a reason: the sender is told what was wrong, nothing reached a topic."""
        return 400 <= self.status < 500 and bool(self.detail.strip())


@dataclass
class Observation:
    """The topics and the mailbox as read once."""

    messages: list[dict] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    dead_letters: list[dict] = field(default_factory=list)
    reviews: list[dict] = field(default_factory=list)
    mails: list[EmailMessage] = field(default_factory=list)


def _values(records: Iterable) -> dict[str, list[dict]]:
    by_topic: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        try:
            value = json.loads(record.value) if record.value is not None else None
        except (ValueError, RecursionError, UnicodeDecodeError):
            continue  # the poison a drill wrote itself
        if isinstance(value, dict):
            by_topic[record.topic].append(value)
    return by_topic


def observe(bus: Bus, mails: Callable[[], list[EmailMessage]]) -> Observation:
    """Read every checked topic from the beginning, and the mailbox."""
    records = bus.read(CHECKED_TOPICS, idle_timeout_s=1.0)
    by_topic = _values(records)
    return Observation(by_topic[AGENT_MESSAGES], by_topic[ROUTING_DECISIONS], by_topic[WORKFLOW_EVENTS],
                       by_topic[DEAD_LETTERS], by_topic[NEEDS_REVIEW], mails())


def _records(observation: Observation) -> list[Record]:
    """The observation as journey input (journeys take bus records)."""
    topics = ((AGENT_MESSAGES, observation.messages), (ROUTING_DECISIONS, observation.decisions),
              (WORKFLOW_EVENTS, observation.events), (DEAD_LETTERS, observation.dead_letters))
    return [Record(topic, None, json.dumps(value).encode()) for topic, values in topics for value in values]


def _outcome(lead: DrillLead, observation: Observation, steps: list[Step]) -> str:
    """ended | limit:<which> | dead_letter:<stage> | review | stalled — the lead's state now."""
    if is_finished(steps):
        last = next(step for step in reversed(steps) if step.kind in TERMINAL_KINDS)
        if last.kind == "ended":
            return "ended"
        if last.kind == "limit":
            limit = next((e.get("limit") for e in reversed(observation.events)
                          if e.get("lead_id") == lead.lead_id and e.get("kind") == "limit"), None)
            return f"limit:{limit}"
        return f"dead_letter:{last.detail.split(':', 1)[0]}"
    last_review = max((i for i, s in enumerate(steps) if s.kind == "review"), default=-1)
    last_message = max((i for i, s in enumerate(steps) if s.kind == "message"), default=-1)
    return "review" if last_review > last_message else "stalled"


def settle(bus: Bus, mails: Callable[[], list[EmailMessage]], leads: list[DrillLead], probes: list[Probe], *,
           timeout_s: float, poll_s: float = 1.0, until_ended: bool = False) -> tuple[Observation, float]:
    """Poll until every lead is over (ended, stopped, dead-lettered or in review; with `until_ended`, a
    dead letter does not count: its replay is awaited) and every probe has its dead letter, or `timeout_s`
    passes; the last observation and the seconds it took."""
    started = time.monotonic()
    while True:
        observation = observe(bus, mails)
        by_lead = journeys(_records(observation))
        outcomes = {lead.lead_id: _outcome(lead, observation, by_lead.get(lead.lead_id, [])) for lead in leads}
        pending = [lead_id for lead_id, outcome in outcomes.items()
                   if outcome == "stalled" or (until_ended and outcome.startswith("dead_letter"))]
        missing = [probe.name for probe in probes if not any(probe.matches(d) for d in observation.dead_letters)]
        elapsed = time.monotonic() - started
        if (not pending and not missing) or elapsed > timeout_s:
            if pending or missing:
                logger.warning("drill: gave up waiting after %.0f s: leads %s, probes %s", elapsed, pending, missing)
            return observation, elapsed
        time.sleep(poll_s)


@dataclass
class Report:
    """One drill's table: what went in, what became of it, and the promises broken (`failures`)."""

    drill: str
    model: str
    leads_in: int = 0
    bridged: int = 0
    ended: int = 0
    outcomes: dict[str, str] = field(default_factory=dict)
    """Each lead's state: ended, limit:…, dead_letter:<stage>, review or stalled."""
    dead_letters: dict[str, list[str]] = field(default_factory=dict)
    """Per stage, the reasons of the dead letters that concern this drill."""
    stalled: int = 0
    emails_in_mailbox: int = 0
    emails_reported_sent: int = 0
    duplicate_dispatches: int = 0
    duplicate_outputs: int = 0
    duplicate_mail_ids: int = 0
    forks: int = 0
    probes_in: int = 0
    probes_dead_lettered: int = 0
    doors: dict[str, Counter] = field(default_factory=dict)
    """Per door, how many hostile inputs got which answer (`422`, `dead letter: validation`, …)."""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def lost(self) -> int:
        """Leads that neither ended nor were dead-lettered with a reason nor wait in review."""
        return sum(1 for outcome in self.outcomes.values() if outcome == "stalled" or outcome.startswith("limit"))

    @property
    def duplicated(self) -> int:
        return self.duplicate_dispatches + self.duplicate_outputs + self.duplicate_mail_ids + self.forks


def _mail_address(mail: EmailMessage) -> str:
    return str(mail.get("To", "")).lower()


def judge(drill: str, model: str, observation: Observation, leads: list[DrillLead], *, probes: Iterable[Probe] = (),
          answers: Iterable[DoorAnswer] = (), seconds: float = 0.0) -> Report:
    """The drill's table from one observation, with every broken promise listed in `failures`."""
    report = Report(drill, model, leads_in=len(leads), seconds=seconds)
    ids = {lead.lead_id for lead in leads}
    by_lead = journeys(_records(observation))
    for lead in leads:
        steps = by_lead.get(lead.lead_id, [])
        outcome = _outcome(lead, observation, steps)
        report.outcomes[lead.lead_id] = outcome
        if outcome == "stalled":
            report.failures.append(f"lead {lead.lead_id} never ended (last step: "
                                   f"{steps[-1].kind if steps else 'none'}): lost")
        elif outcome.startswith("limit"):
            report.failures.append(f"lead {lead.lead_id} was stopped by a limit ({outcome}) instead of ending")
        elif outcome.startswith("dead_letter") and not lead.may_dead_letter:
            report.failures.append(f"lead {lead.lead_id} was dead-lettered ({outcome}) instead of ending")
    report.ended = sum(1 for outcome in report.outcomes.values() if outcome == "ended")
    report.stalled = sum(1 for outcome in report.outcomes.values() if outcome == "stalled")
    mine = [m for m in observation.messages if m.get("lead_id") in ids]
    report.bridged = len({m["lead_id"] for m in mine if m.get("produced_by") in _INTAKE_PRODUCERS})

    letters = [d for d in observation.dead_letters if d.get("lead_id") in ids]
    probes = list(probes)
    report.probes_in = len(probes)
    probed: list[dict] = []
    for probe in probes:
        found = [d for d in observation.dead_letters if probe.matches(d)]
        if not found:
            report.failures.append(f"{probe.name} on {probe.door} got no dead letter")
            report.doors.setdefault(probe.door, Counter())["no dead letter"] += 1
            continue
        letter = found[0]
        probed.append(letter)
        if not str(letter.get("reason", "")).strip():
            report.failures.append(f"{probe.name} on {probe.door} was dead-lettered without a reason")
        report.probes_dead_lettered += 1
        report.doors.setdefault(probe.door, Counter())[f"dead letter: {letter.get('stage')}"] += 1
    for letter in letters + probed:
        reasons = report.dead_letters.setdefault(str(letter.get("stage")), [])
        reason = str(letter.get("reason", ""))
        reason = reason if len(reason) <= 140 else reason[:139] + "…"
        if reason not in reasons:
            reasons.append(reason)
        if not reason.strip() and letter in letters:
            report.failures.append(f"a dead letter of lead {letter.get('lead_id')} (stage {letter.get('stage')}) "
                                   "has no reason")

    for answer in answers:
        label = str(answer.status) if answer.status else "no answer"
        report.doors.setdefault(answer.door, Counter())[label] += 1
        if not answer.refused_clearly:
            report.failures.append(f"{answer.name} at {answer.door} was answered {label} "
                                   f"({answer.detail[:80]!r}), not a 4xx with a reason")

    dispatched = [e for e in observation.events if e.get("kind") == "dispatched" and e.get("lead_id") in ids]
    per_message = Counter(e.get("message_id") for e in dispatched)
    report.duplicate_dispatches = sum(count - 1 for count in per_message.values() if count > 1)
    agents_per_message: dict[str, set[str]] = defaultdict(set)
    for event in dispatched:
        agents_per_message[event.get("message_id")].add(str(event.get("agent")))
    report.forks = sum(1 for agents in agents_per_message.values() if len(agents) > 1)
    outputs = Counter((m.get("produced_by"), m.get("parent_message_id")) for m in
                      {m.get("message_id"): m for m in mine if m.get("parent_message_id")}.values())
    report.duplicate_outputs = sum(count - 1 for count in outputs.values() if count > 1)

    addresses = {lead.email.lower() for lead in leads if lead.email}
    mails = [mail for mail in observation.mails if any(address in _mail_address(mail) for address in addresses)]
    report.emails_in_mailbox = len(mails)
    mail_ids = Counter(str(mail.get("Message-ID", "")) for mail in mails)
    report.duplicate_mail_ids = sum(count - 1 for count in mail_ids.values() if count > 1)
    reports = {m.get("message_id"): m for m in mine if m.get("produced_by") == "send_email"}
    report.emails_reported_sent = sum(int((m.get("context") or {}).get("sent_count", 0)) for m in reports.values()
                                      if isinstance(m.get("context"), dict))

    if report.emails_in_mailbox != report.emails_reported_sent:
        report.failures.append(f"{report.emails_in_mailbox} e-mail(s) in the mailbox but the delivery reports say "
                               f"{report.emails_reported_sent} sent")
    for what, count in (("message(s) dispatched twice", report.duplicate_dispatches),
                        ("agent output(s) repeated for one input", report.duplicate_outputs),
                        ("Message-ID(s) twice in the mailbox", report.duplicate_mail_ids),
                        ("fork(s): two agents dispatched for one message", report.forks)):
        if count:
            report.failures.append(f"{count} {what}")
    return report
