"""The review queue: decisions the cascade was too unsure to act on, and a person's answer to each.

`pending` reads `needs_review` and leaves out what was already resolved; `resolve` signs the
reviewer's verdict, puts the original envelope back on `agent_messages` carrying it (the job's
gate checks the signature and dispatches to the chosen agent), and keeps the answer as a
labelled example in the dataset line format (`<state>/review/resolved.jsonl`), ready to be
folded into the next version of the field set.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sdr_pipeline.contracts.dataset import ROUTING_LABELS, Example
from sdr_pipeline.contracts.review import REVIEW_FIELD, ReviewVerdict, review_signature
from sdr_pipeline.contracts.topics import AGENT_MESSAGES, NEEDS_REVIEW
from sdr_pipeline.contracts.workflow import DispatchTask
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.infra.bus import Bus
from sdr_pipeline.settings import Settings

__all__ = ["Pending", "pending", "resolve", "resolved_path"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    """One decision waiting for a person."""

    task: DispatchTask

    @property
    def message_id(self) -> str:
        return self.task.envelope.message_id


def resolved_path(settings: Settings) -> Path:
    return settings.state_dir / "review" / "resolved.jsonl"


def _resolved_ids(settings: Settings) -> set[str]:
    path = resolved_path(settings)
    if not path.exists():
        return set()
    return {json.loads(line)["message"]["message_id"] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()}


def pending(bus: Bus, settings: Settings) -> list[Pending]:
    """Every decision on `needs_review` that nobody has resolved yet, oldest first."""
    done = _resolved_ids(settings)
    found: dict[str, Pending] = {}
    for record in bus.read([NEEDS_REVIEW], idle_timeout_s=2.0):
        try:
            task = DispatchTask.model_validate_json(record.value)
        except ValueError:
            logger.warning("skipping an unreadable needs_review record at offset %s", record.offset)
            continue
        if task.envelope.message_id not in done:
            found.setdefault(task.envelope.message_id, Pending(task))
    return list(found.values())


def resolve(bus: Bus, settings: Settings, *, message_id: str, agent: str, reviewer: str, note: str = "") -> Example:
    """Route the message on with the reviewer's agent and keep the answer as a labelled example."""
    secret = settings.review_secret.get_secret_value()
    if not secret:
        raise UserError("no review secret is set, so the routing job would refuse the verdict",
                        fix="set SDR_REVIEW_SECRET to the same value for the job and for this command")
    if agent not in ROUTING_LABELS:
        raise UserError(f"unknown agent '{agent}'", fix=f"use one of {', '.join(ROUTING_LABELS)}")
    waiting = {item.message_id: item for item in pending(bus, settings)}
    if message_id not in waiting:
        raise UserError(f"message {message_id} is not waiting for review",
                        fix="run `sdr-pipeline review list` to see the ids that are")
    task = waiting[message_id].task
    verdict = ReviewVerdict(agent=agent, reviewer=reviewer, note=note,
                            signature=review_signature(secret, message_id=message_id, agent=agent))
    data = json.loads(task.envelope.to_json())
    data[REVIEW_FIELD] = json.loads(verdict.model_dump_json())
    bus.publish(AGENT_MESSAGES, json.dumps(data).encode(), key=task.envelope.lead_id)
    example = Example(id=f"review-{message_id}", message=task.envelope, expected_agent=agent,  # type: ignore[arg-type]
                      tags=("review", f"router:{task.decision.agent}"), split="dev",
                      note=note or f"reviewed by {reviewer}; the router had {task.decision.confidence:.2f} "
                                   f"for {task.decision.agent}")
    path = resolved_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(example.model_dump_json() + "\n")
    logger.info("review resolved message_id=%s lead_id=%s agent=%s by %s", message_id, task.envelope.lead_id, agent,
                reviewer)
    return example
