"""The drills by name: what each does, which model it runs on, whether it is slow, and how to run it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sdr_pipeline.drills import copies, crashes, inputs, outages, poison
from sdr_pipeline.drills.checker import Report
from sdr_pipeline.drills.stack import DrillStack
from sdr_pipeline.exceptions import SdrPipelineError, UserError

__all__ = ["DRILLS", "Drill", "run_drill", "select"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drill:
    name: str
    summary: str
    run: Callable[..., Report]
    slow: bool = False
    """Restarts a part of the stack: minutes, not seconds; left out of `drill all` unless `--slow`."""


DRILLS: tuple[Drill, ...] = (
    Drill("duplicate", "a byte-for-byte copy of a lead's first envelope and of its research profile on "
                       "agent_messages: dropped as duplicates, the lead ends with its e-mail", copies.duplicate),
    Drill("double-submit", "the same lead sent twice at once as JSON, as JSON with one Idempotency-Key and as one "
                           "form page: one lead each", copies.double_submit),
    Drill("poison", "a tombstone, JSON nested 5,000 deep and a 900 KB record on agent_messages and incoming_leads: "
                    "each a dead letter with a reason, a valid lead after them ends", poison.poison),
    Drill("inputs", f"{2 * len(inputs.ENVELOPE_CASES)} malformed envelopes on both topics and 34 hostile posts to "
                    "intake's JSON, form and webhook doors and to the agents: each a 4xx or a dead letter with a "
                    "reason", inputs.inputs),
    Drill("router-kill", "SIGKILL of the routing job while 8 leads are in flight, then a restart: every lead ends, "
                         "no e-mail twice, no fork", crashes.router_kill, slow=True),
    Drill("agents-down", "SIGKILL of the agents mid-burst, back within the redelivery schedule: the tasks wait on "
                         "redeliveries, every lead ends, no dead letter", outages.agents_down, slow=True),
    Drill("agents-gone", "the agents away longer than the redelivery schedule: dispatch dead letters, replayed with "
                         "`deadletters replay` once they are back; every lead ends, no e-mail twice",
          outages.agents_gone, slow=True),
    Drill("model-hung", "the model hangs (SIGSTOP) for 20 s mid-burst: calls time out and wait on redeliveries, "
                        "every lead ends", outages.model_hung, slow=True),
    Drill("smtp-down", "the SMTP server SIGKILLed for 20 s mid-burst: e-mails wait in the outbox, each sent once",
          outages.smtp_down, slow=True),
    Drill("broker-down", "the Kafka broker SIGKILLed for 30 s mid-burst: the job restarts, every lead ends",
          outages.broker_down, slow=True),
)


def select(name: str, *, slow: bool = False) -> list[Drill]:
    """The drills `name` means: one by name, or `all` (the fast ones, plus the slow ones with `slow`)."""
    if name == "all":
        return [drill for drill in DRILLS if slow or not drill.slow]
    found = [drill for drill in DRILLS if drill.name == name]
    if not found:
        raise UserError(f"no drill named {name!r}",
                        fix=f"choose one of {', '.join(d.name for d in DRILLS)}, or `all` (see `sdr-pipeline drill list`)")
    return found


def run_drill(stack: DrillStack, drill: Drill, *, timeout_s: float) -> Report:
    """Run one drill; a drill that could not even be carried out is a failed report, not a crash of the run."""
    logger.info("drill %s: %s", drill.name, drill.summary)
    try:
        return drill.run(stack, timeout_s=timeout_s)
    except SdrPipelineError as error:
        report = Report(drill.name, stack.model)
        report.failures.append(f"the drill could not run: {error}")
        return report
