"""Crash drills (slow: each restarts a process of the stack): the routing job SIGKILLed mid-flight.

The job resumes from its last checkpoint and replays what came after; agents are idempotent on
message_id and the outbox on message id and e-mail index, so after the restart every lead ends,
with no e-mail twice and no message taken by two agents.
"""

from __future__ import annotations

import signal
import time

from sdr_pipeline.drills._traffic import fresh_lead, submit, wait_for_first_dispatch
from sdr_pipeline.drills.checker import Report, judge, settle
from sdr_pipeline.drills.stack import DrillStack
from sdr_pipeline.infra.smtp import read_mailbox

__all__ = ["router_kill"]

BURST = 8
"""Leads in flight when the job is killed."""


def router_kill(stack: DrillStack, *, timeout_s: float) -> Report:
    """SIGKILL the routing job while a burst of leads is in flight, start it again, and check every lead ends."""
    leads = [submit(stack, fresh_lead(f"kill{i}")) for i in range(BURST)]
    dispatched = wait_for_first_dispatch(stack, leads, timeout_s=timeout_s)
    killed_at = time.monotonic()
    stack.kill("router", signal.SIGKILL)
    stack.start_part("router")
    restart_s = time.monotonic() - killed_at
    observation, seconds = settle(stack.bus, lambda: read_mailbox(stack.settings), leads, [], timeout_s=timeout_s)
    report = judge("router-kill", stack.model, observation, leads, seconds=seconds)
    report.notes.append(f"SIGKILL of the routing job after the burst's first dispatch ({dispatched} dispatched); "
                        f"back up in {restart_s:.0f} s")
    return report
