"""Crash drills (slow: each restarts a process of the stack): the routing job SIGKILLed mid-flight.

The job resumes from its last checkpoint and replays what came after; agents are idempotent on
message_id and the outbox on message id and e-mail index, so after the restart every lead ends,
with no e-mail twice and no message taken by two agents.
"""

from __future__ import annotations

import json
import signal
import time

from sdr_pipeline.contracts.topics import WORKFLOW_EVENTS
from sdr_pipeline.drills._traffic import fresh_lead, submit
from sdr_pipeline.drills.checker import Report, judge, settle
from sdr_pipeline.drills.stack import DrillStack
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.infra.bus import Record
from sdr_pipeline.infra.smtp import read_mailbox

__all__ = ["router_kill"]


def _values(records: list[Record]) -> list[dict]:
    values = []
    for record in records:
        try:
            value = json.loads(record.value) if record.value is not None else None
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            values.append(value)
    return values


BURST = 8
"""Leads in flight when the job is killed."""


def router_kill(stack: DrillStack, *, timeout_s: float) -> Report:
    """SIGKILL the routing job while a burst of leads is in flight, start it again, and check every lead ends."""
    leads = [submit(stack, fresh_lead(f"kill{i}")) for i in range(BURST)]
    ids = {lead.lead_id for lead in leads}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # kill once the first agent has answered: mid-flight, not before
        events = [e for e in _values(stack.bus.read([WORKFLOW_EVENTS], idle_timeout_s=1.0))
                  if e.get("lead_id") in ids and e.get("kind") == "dispatched"]
        if events:
            break
        time.sleep(0.2)
    else:
        raise UserError("no lead of the burst was dispatched before the kill", fix="check the router's log")
    killed_at = time.monotonic()
    stack.kill("router", signal.SIGKILL)
    stack.start_part("router")
    restart_s = time.monotonic() - killed_at
    observation, seconds = settle(stack.bus, lambda: read_mailbox(stack.settings), leads, [], timeout_s=timeout_s)
    report = judge("router-kill", stack.model, observation, leads, seconds=seconds)
    report.notes.append(f"SIGKILL of the routing job after the burst's first dispatch ({len(events)} dispatched); "
                        f"back up in {restart_s:.0f} s")
    return report
