"""Outage drills (slow: each takes a part away for a while): passing failures wait, long ones replay.

`agents-down`: the agents are SIGKILLed mid-burst and come back within the redelivery schedule
(SDR_REDELIVERY_*): the tasks that met the outage are set aside on `redeliveries`, taken back when
due, and every lead ends with no dead letter. `agents-gone`: the agents stay away longer than the
whole schedule, so the tasks become dispatch dead letters; once the agents are back,
`deadletters replay` (the same code the command runs) puts them back, and every lead ends with
no e-mail twice and no message taken by two agents. `model-hung`, `smtp-down` and `broker-down` take
the model (SIGSTOP: it hangs rather than refuses), the SMTP server and the Kafka broker away for a while
in the middle of a burst: every lead ends once they are back, nothing lost, no e-mail twice.
"""

from __future__ import annotations

import signal
import time

from sdr_pipeline.contracts.raw import RecordBounds
from sdr_pipeline.drills._traffic import events_of, fresh_lead, submit, wait_for_first_dispatch
from sdr_pipeline.drills.checker import DrillLead, Report, judge, settle
from sdr_pipeline.drills.stack import DrillStack
from sdr_pipeline.infra.secrets import shared_secret
from sdr_pipeline.infra.smtp import read_mailbox
from sdr_pipeline.orchestrator.dead_letters import plan_replay, publish_replays, read_letters, replayed_refs
from sdr_pipeline.orchestrator.steps import redelivery_backoff

__all__ = ["agents_down", "agents_gone", "broker_down", "model_hung", "smtp_down"]

BURST = 4
"""Leads per drill: half sent before the agents go (caught mid-flight), half while they are away."""


def _schedule_s(stack: DrillStack) -> float:
    """How long the job keeps setting a task aside before it dead-letters it (the waits alone)."""
    policy = redelivery_backoff(stack.settings)
    return sum(policy.delay_s(n) for n in range(1, policy.attempts + 1))


def _outage(stack: DrillStack, label: str, *, seconds: float, timeout_s: float) -> tuple[list[DrillLead], str]:
    """Half a burst, the agents SIGKILLed after its first dispatch, the other half sent while they are away,
    and `seconds` of waiting: the leads and a note. (With the stand-in model a lead's whole journey takes
    seconds, so leads sent only before the kill may all be over before it.)"""
    leads = [submit(stack, fresh_lead(f"{label}{i}")) for i in range(BURST // 2)]
    dispatched = wait_for_first_dispatch(stack, leads, timeout_s=timeout_s)
    stack.kill("agents", signal.SIGKILL)
    leads += [submit(stack, fresh_lead(f"{label}{i}")) for i in range(BURST // 2, BURST)]
    time.sleep(seconds)
    return leads, (f"agents SIGKILLed after the first dispatch of {BURST // 2} leads ({dispatched} dispatched), "
                   f"{BURST - BURST // 2} more sent while they were away, away {seconds:.0f} s")


def agents_down(stack: DrillStack, *, timeout_s: float) -> Report:
    """Agents away for less than the redelivery schedule: every lead ends, nothing dead-lettered."""
    away_s = min(20.0, _schedule_s(stack) / 2)
    leads, note = _outage(stack, "down", seconds=away_s, timeout_s=timeout_s)
    stack.start_part("agents")
    observation, seconds = settle(stack.bus, lambda: read_mailbox(stack.settings), leads, [], timeout_s=timeout_s)
    report = judge("agents-down", stack.model, observation, leads, seconds=seconds)
    retrying = events_of(stack, leads, "retrying")
    if not retrying:
        report.failures.append("no task was set aside while the agents were away: the outage was not exercised")
    report.notes.append(f"{note}; {len(retrying)} task(s) set aside on redeliveries and taken back when due")
    return report


def agents_gone(stack: DrillStack, *, timeout_s: float) -> Report:
    """Agents away for longer than the redelivery schedule: dispatch dead letters, replayed once they are back."""
    schedule_s = _schedule_s(stack)
    leads, note = _outage(stack, "gone", seconds=0.0, timeout_s=timeout_s)
    # every lead still in flight must run through its whole schedule and become a dispatch dead letter
    observation, waited = settle(stack.bus, lambda: read_mailbox(stack.settings), leads, [],
                                 timeout_s=schedule_s + timeout_s)
    stack.start_part("agents")
    ids = {lead.lead_id for lead in leads}
    letters = [stored for stored in read_letters(stack.bus, stages=["dispatch"])[0] if stored.letter.lead_id in ids]
    plans = [plan_replay(stored, secret=shared_secret(stack.settings, "dispatch"),
                         prompt_name=stack.settings.router_prompt, prompt_version=stack.settings.router_prompt_version,
                         bounds=RecordBounds.from_settings(stack.settings), already=replayed_refs(stack.bus))
             for stored in letters]
    replayed = publish_replays(stack.bus, plans)
    observation, seconds = settle(stack.bus, lambda: read_mailbox(stack.settings), leads, [], timeout_s=timeout_s,
                                  until_ended=True)
    report = judge("agents-gone", stack.model, observation, leads, seconds=waited + seconds)
    if not letters:
        report.failures.append("no dispatch dead letter after the whole redelivery schedule: the outage was not "
                               "exercised")
    if replayed != len(letters):
        report.failures.append(f"{len(letters) - replayed} of {len(letters)} dispatch dead letters could not be "
                               "replayed: " + "; ".join(p.why_not or "" for p in plans if p.redelivery is None))
    report.notes.append(f"{note.rsplit(', away', 1)[0]}; away past the whole schedule ({schedule_s:.0f} s of "
                        f"waits, {waited:.0f} s in all); {len(letters)} dispatch dead letter(s) replayed once they "
                        "were back")
    return report


def _part_away(stack: DrillStack, drill: str, part: str, *, seconds: float, timeout_s: float,
               hang: bool = False, all_before: bool = False) -> Report:
    """Take `part` away mid-burst for `seconds` (SIGKILL and a restart, or with `hang` SIGSTOP and SIGCONT),
    then judge: every lead ends, nothing twice."""
    half = BURST if all_before else BURST // 2
    leads = [submit(stack, fresh_lead(f"{drill}{i}")) for i in range(half)]
    dispatched = wait_for_first_dispatch(stack, leads, timeout_s=timeout_s)
    stack.kill(part, signal.SIGSTOP if hang else signal.SIGKILL)
    try:
        leads += [submit(stack, fresh_lead(f"{drill}{i}")) for i in range(half, BURST)]
        time.sleep(seconds)
    finally:
        if hang:
            stack.kill(part, signal.SIGCONT)
        else:
            stack.start_part(part)
    observation, settled = settle(stack.bus, lambda: read_mailbox(stack.settings), leads, [], timeout_s=timeout_s)
    report = judge(drill, stack.model, observation, leads, seconds=seconds + settled)
    how = "hung (SIGSTOP)" if hang else "SIGKILLed"
    report.notes.append(f"{part} {how} after the first dispatch of {half} leads ({dispatched} dispatched), "
                        f"{BURST - half} more sent while it was away, back after {seconds:.0f} s; "
                        f"{len(events_of(stack, leads, 'retrying'))} task(s) set aside meanwhile")
    return report


def model_hung(stack: DrillStack, *, timeout_s: float) -> Report:
    """The model stops answering (SIGSTOP) for a while: calls time out, tasks wait, every lead ends."""
    from sdr_pipeline.drills.stack import STANDIN

    name = STANDIN if STANDIN in stack.specs else "llama-server"
    return _part_away(stack, "model-hung", name, seconds=20.0, timeout_s=timeout_s, hang=True)


def smtp_down(stack: DrillStack, *, timeout_s: float) -> Report:
    """The SMTP server is gone for a while: e-mails wait in the outbox, each is sent once when it is back."""
    return _part_away(stack, "smtp-down", "smtp", seconds=20.0, timeout_s=timeout_s)


def broker_down(stack: DrillStack, *, timeout_s: float) -> Report:
    """The Kafka broker is gone for 30 s mid-burst (every lead was accepted before): the job restarts, the
    bridge and the agents carry on, every lead ends."""
    return _part_away(stack, "broker-down", "kafka", seconds=30.0, timeout_s=timeout_s, all_before=True)
