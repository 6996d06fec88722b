"""Reading `dead_letters`, and putting a letter back into the routing job once its cause is fixed.

A replay is a `Redelivery` on `redeliveries`, signed with the routing job's key and due at once:
a dispatch failure goes straight back to the agent its decision named (the decision travels in
the letter, so the model is not asked again and the lead cannot fork), anything else goes back
to the router. The job takes it back without its dedupe (the message id was seen before; this
is a deliberate second try), and the ledger keeps the first agent of a message dispatched
before. Each replay names the letter it replays (`dead_letters/<partition>/<offset>`), so a
second `replay` skips what was already replayed unless told `again`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from sdr_pipeline.contracts.decision import DeadLetter, DeadLetterStage, parse_control_message
from sdr_pipeline.contracts.envelope import parse_envelope
from sdr_pipeline.contracts.raw import RecordBounds, check_raw
from sdr_pipeline.contracts.topics import DEAD_LETTERS, REDELIVERIES, ROUTER_CONTROL
from sdr_pipeline.contracts.workflow import DispatchTask, Redelivery, RouteTask
from sdr_pipeline.exceptions import ContractError, UserError
from sdr_pipeline.infra.bus import Bus

__all__ = ["Replay", "StoredLetter", "as_json_line", "live_prompt_version", "parse_since", "plan_replay",
           "publish_replays", "read_letters", "replayed_refs"]

logger = logging.getLogger(__name__)

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """`--since`: a span back from now (`90m`, `2h`, `3d`) or an ISO date or time (`2026-12-01T14:00`, UTC
    unless it says otherwise)."""
    now = now or datetime.now(UTC)
    span = _SPAN.match(text)
    if span:
        return now - timedelta(**{_UNITS[span.group(2)]: float(span.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"--since {text!r} is neither a span nor a date",
                        fix="give a span back from now (90m, 2h, 3d) or an ISO date or time (2026-12-01T14:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StoredLetter:
    """A dead letter and where it sits on the topic."""

    partition: int
    offset: int
    letter: DeadLetter

    @property
    def ref(self) -> str:
        return f"{DEAD_LETTERS}/{self.partition}/{self.offset}"


def read_letters(bus: Bus, *, stages: Iterable[DeadLetterStage] = (), since: datetime | None = None,
                 lead_id: str | None = None, refs: Iterable[str] = ()) -> tuple[list[StoredLetter], int]:
    """The dead letters that match, oldest first, and how many records could not be read as one."""
    wanted_stages, wanted_refs = set(stages), set(refs)
    found, unreadable = [], 0
    for record in bus.read([DEAD_LETTERS], idle_timeout_s=2.0):
        try:
            stored = StoredLetter(record.partition, record.offset, DeadLetter.model_validate_json(record.value))
        except (ValidationError, ValueError, TypeError):
            unreadable += 1
            continue
        letter = stored.letter
        if ((wanted_stages and letter.stage not in wanted_stages) or (since and letter.failed_at < since)
                or (lead_id and letter.lead_id != lead_id) or (wanted_refs and stored.ref not in wanted_refs)):
            continue
        found.append(stored)
    return found, unreadable


def replayed_refs(bus: Bus) -> set[str]:
    """The letters a replay already put back (their refs, from `redeliveries`)."""
    refs = set()
    for record in bus.read([REDELIVERIES], idle_timeout_s=2.0):
        try:
            replay_of = Redelivery.model_validate_json(record.value).replay_of
        except (ValidationError, ValueError, TypeError):
            continue
        if replay_of:
            refs.add(replay_of)
    return refs


def live_prompt_version(bus: Bus, prompt: str, default: str) -> str:
    """The version the job routes `prompt` with: the last announcement on router_control, else `default`."""
    version = default
    for record in bus.read([ROUTER_CONTROL], idle_timeout_s=2.0):
        try:
            control = parse_control_message(record.value)
        except ContractError:
            continue
        if control.prompt == prompt:
            version = control.version
    return version


@dataclass(frozen=True)
class Replay:
    """What `replay` would do with one letter: a redelivery to publish, or why it cannot be replayed."""

    stored: StoredLetter
    redelivery: Redelivery | None = None
    why_not: str | None = None

    @property
    def goes_to(self) -> str:
        """Where the letter goes back in, in words."""
        if self.redelivery is None:
            return "—"
        if self.redelivery.stage == "dispatch":
            return f"dispatch to {DispatchTask.model_validate_json(self.redelivery.task).decision.agent}"
        return "the router"


def plan_replay(stored: StoredLetter, *, secret: str, prompt_name: str, prompt_version: str, bounds: RecordBounds,
                already: set[str], again: bool = False) -> Replay:
    """The redelivery that puts `stored` back into the job, or the reason it cannot go back."""
    letter = stored.letter
    if stored.ref in already and not again:
        return Replay(stored, why_not="already replayed (replay it again with --again)")
    if letter.stage == "control":
        return Replay(stored, why_not="a control message, not a lead's: announce the version again with "
                                      "`sdr-pipeline prompts promote`")
    if "… [cut: " in letter.raw_value:
        return Replay(stored, why_not="the dead letter kept only the head of a value too large to store whole")
    try:
        raw = check_raw(letter.raw_value, bounds, where=stored.ref, contract="envelope",
                        null_hint="a null carries no lead: nothing to replay")
        envelope = parse_envelope(raw)
    except ContractError as error:
        return Replay(stored, why_not=f"still invalid: {error} — its producer must send it again, fixed")
    if letter.stage == "dispatch" and letter.decision is not None:
        stage, task = "dispatch", DispatchTask(envelope=envelope, decision=letter.decision, raw_value=raw).model_dump_json()
    else:
        stage = "routing"
        task = RouteTask(envelope=envelope, prompt_name=prompt_name, prompt_version=prompt_version,
                         raw_value=raw).model_dump_json()
    redelivery = Redelivery(stage=stage, task=task, lead_id=envelope.lead_id, message_id=envelope.message_id,
                            due_ms=int(time.time() * 1000), last_error=letter.reason[:1000], replay_of=stored.ref)
    return Replay(stored, redelivery=redelivery.signed(secret))


def publish_replays(bus: Bus, replays: Iterable[Replay]) -> int:
    """Put every planned redelivery on `redeliveries`; how many went."""
    count = 0
    for replay in replays:
        if replay.redelivery is not None:
            bus.publish(REDELIVERIES, replay.redelivery.to_bytes(), key=replay.redelivery.lead_id)
            logger.info("replayed %s (lead_id=%s message_id=%s) to %s", replay.stored.ref, replay.redelivery.lead_id,
                        replay.redelivery.message_id, replay.goes_to)
            count += 1
    return count


def as_json_line(stored: StoredLetter, replay: Replay | None = None) -> str:
    """One letter as a JSON line, for pipes (`--json`)."""
    body = {"ref": stored.ref, **json.loads(stored.letter.model_dump_json(exclude={"decision"}))}
    if stored.letter.decision is not None:
        body["decided_agent"] = stored.letter.decision.agent
    if replay is not None:
        body["replay"] = replay.goes_to if replay.redelivery else None
        body["why_not"] = replay.why_not
    return json.dumps(body)
