"""Production decisions become labelled data: pick the ones worth a label, label them, publish a version.

`harvest` reads what the routing job decided (`routing_decisions`) with the messages it decided
(`agent_messages`) and what became of them (`dead_letters`), and queues the decisions worth a
person's label: the unsure (calibrated confidence below the cascade's accept threshold), the
off-contract (a producer drifted), the overturned (the chosen agent refused the message with a 4xx,
or a reviewer chose), and a seeded random sample of the rest, so the next version also gives an
unbiased estimate of today's accuracy. The queue is JSONL under the state folder; a reviewer's
verdict already is a label. `publish` turns the labelled rows into a new dataset version: the
targeted rows go to `dev` (the router's pool learns from them), the random sample to `test`; every
row keeps its provenance (topic, partition, offset, prompt version, policy, model), and the card
says where the data came from, with its sha256. A published file is never written again.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sdr_pipeline.contracts.dataset import RoutingLabel
from sdr_pipeline.contracts.decision import DeadLetter, RoutingDecision
from sdr_pipeline.contracts.envelope import Envelope
from sdr_pipeline.contracts.parsing import first_problem
from sdr_pipeline.contracts.topics import AGENT_MESSAGES, DEAD_LETTERS, ROUTING_DECISIONS
from sdr_pipeline.evals.datasets import Example, write_dataset
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.infra.bus import Bus

__all__ = ["QueueRow", "harvest", "load_queue", "publish", "save_queue"]

Why = str
"""low_confidence | off_contract | overturned | reviewed | sample"""


class QueueRow(BaseModel):
    """One decision waiting for (or given) a person's label."""

    model_config = ConfigDict(extra="forbid")

    message: Envelope
    decision: RoutingDecision
    why: list[Why]
    """Why it was picked; `sample` rows were drawn at random and say nothing of the router."""
    provenance: dict[str, str | int | float | None]
    label: RoutingLabel | None = None
    """The right agent, once a person (or a reviewer's verdict) said so."""
    note: str = ""
    labelled_by: str | None = None
    detail: str = Field(default="", description="what happened after the decision, e.g. the agent's refusal")


def _read(bus: Bus, topic: str) -> Iterable[tuple[object, dict]]:
    for record in bus.read([topic], idle_timeout_s=2.0):
        try:
            value = json.loads(record.value) if record.value is not None else None
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            yield record, value


def harvest(bus: Bus, *, since: datetime, until: datetime | None = None, accept: float = 0.6, sample: int = 20,
            seed: int = 0) -> list[QueueRow]:
    """The decisions made between `since` and `until` worth a label, oldest first (see the module docstring)."""
    messages: dict[str, tuple[Envelope, dict]] = {}
    for record, value in _read(bus, AGENT_MESSAGES):
        try:
            envelope = Envelope.model_validate(value)
        except ValidationError:
            continue
        messages.setdefault(envelope.message_id, (envelope, {"topic": record.topic, "partition": record.partition,
                                                             "offset": record.offset}))
    refusals: dict[str, str] = {}
    for _, value in _read(bus, DEAD_LETTERS):
        try:
            letter = DeadLetter.model_validate(value)
        except ValidationError:
            continue
        if letter.message_id and letter.stage == "dispatch" and "(HTTP 4" in letter.reason:
            refusals.setdefault(letter.message_id, letter.reason[:300])
    picked: list[QueueRow] = []
    rest: list[QueueRow] = []
    for record, value in _read(bus, ROUTING_DECISIONS):
        try:
            decision = RoutingDecision.model_validate(value)
        except ValidationError:
            continue
        if decision.decided_at < since or (until is not None and decision.decided_at >= until):
            continue
        if decision.message_id not in messages:
            continue  # the message aged out of agent_messages: nothing to label
        envelope, where = messages[decision.message_id]
        why = [reason for reason, hit in (
            ("low_confidence", decision.decided_by in ("model", "classifier") and decision.confidence < accept),
            ("off_contract", decision.off_contract),
            ("overturned", decision.message_id in refusals),
            ("reviewed", decision.decided_by == "review")) if hit]
        row = QueueRow(message=envelope, decision=decision, why=why, detail=refusals.get(decision.message_id, ""),
                       provenance={**where, "decision_offset": record.offset, "decision_partition": record.partition,
                                   "prompt_version": decision.prompt_version, "policy": decision.policy,
                                   "model": decision.model, "decided_at": decision.decided_at.isoformat()},
                       label=decision.agent if decision.decided_by == "review" else None,  # type: ignore[arg-type]
                       labelled_by="reviewer" if decision.decided_by == "review" else None)
        (picked if why else rest).append(row)
    drawn = random.Random(seed).sample(rest, min(sample, len(rest)))
    for row in drawn:
        row.why = ["sample"]
    rows = {row.decision.message_id: row for row in picked + drawn}  # the latest decision of a message wins
    return sorted(rows.values(), key=lambda row: row.decision.decided_at)


def save_queue(rows: Iterable[QueueRow], path: Path) -> None:
    """Write the queue as JSONL (one row a line), replacing what was there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(row.model_dump_json() + "\n" for row in rows), encoding="utf-8")


def load_queue(path: Path) -> list[QueueRow]:
    """The queue at `path`; a bad line is named."""
    if not path.is_file():
        raise UserError(f"no labelling queue at {path}", fix="make one with `sdr-pipeline datasets harvest --since 7d`")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(QueueRow.model_validate_json(line))
            except ValidationError as error:
                field, problem = first_problem(error)
                raise UserError(f"{path} line {number}, field '{field}': {problem}",
                                fix="label rows in notebooks/04_label_queue.ipynb rather than by hand") from None
    return rows


def publish(rows: Iterable[QueueRow], out: Path, *, source: str) -> tuple[str, Counter]:
    """The labelled rows as a new dataset file `out` and its card; the sha256 and the counts per (label, split).

    Never overwrites: a dataset version, once published, is what runs and gates were measured on."""
    if out.exists():
        raise UserError(f"{out} exists: a published dataset is never written again",
                        fix=f"publish under a new version, e.g. {out.with_name(_next_version(out))}")
    labelled = [row for row in rows if row.label is not None]
    if not labelled:
        raise UserError("no row of the queue has a label yet", fix="label it in notebooks/04_label_queue.ipynb")
    examples = [Example(
        id=f"hv-{row.decision.message_id[:16]}", message=row.message, expected_agent=row.label,  # type: ignore[arg-type]
        tags=("harvested", *(f"why:{why}" for why in row.why), f"policy:{row.decision.policy}",
              f"prompt:{row.decision.prompt_version}"),
        note=row.note or f"router said {row.decision.agent} ({row.decision.confidence:.2f}): {row.decision.reason}"[:500],
        split="test" if row.why == ["sample"] else "dev",
        provenance={**row.provenance, "labelled_by": row.labelled_by}) for row in labelled]
    sha = write_dataset(examples, out)
    counts = Counter((example.expected_agent, example.split) for example in examples)
    _write_card(out, examples, counts, sha=sha, source=source)
    return sha, counts


def _next_version(path: Path) -> str:
    stem, _, number = path.stem.rpartition("_v")
    return f"{stem}_v{int(number) + 1}{path.suffix}" if number.isdigit() else f"{path.stem}_v2{path.suffix}"


def _write_card(out: Path, examples: list[Example], counts: Counter, *, sha: str, source: str) -> None:
    labels = sorted({label for label, _ in counts})
    lines = [f"# {out.name}", "", f"Harvested from production decisions ({source}) and labelled by people.",
             "Targeted rows (unsure, off-contract, overturned, reviewed) are `dev`; the seeded random sample is `test`,",
             "an unbiased estimate of the router's accuracy on the traffic of that window.", "",
             f"- examples: {len(examples)}", f"- sha256: `{sha}`", "",
             "| label | dev | test |", "| --- | --- | --- |",
             *(f"| {label} | {counts.get((label, 'dev'), 0)} | {counts.get((label, 'test'), 0)} |" for label in labels),
             "", "Every line carries `provenance`: topic, partition and offset of the message, the decision's offset,",
             "prompt version, policy, model, when it was decided and who labelled it.", ""]
    out.with_suffix(".card.md").write_text("\n".join(lines), encoding="utf-8")
