"""Write one seeded routing dataset: the scenarios' examples plus the hand-written hard cases, split, with cards.

It writes `<name>.jsonl` (each example with a `dev`/`test` split), `<name>.card.md` and
`hard_cases.card.md`. Everything random comes from `random.Random` instances seeded from `seed`,
and everything is written in a fixed order, so the same seed, phrasebook and hard-case file give
byte-identical files.

A dataset, once written, is never rewritten: the lab's results name the file and its sha256.
So the generator refuses to write over an existing `<name>.jsonl` and names the next free
version instead (`routing_v2`); a fresh `--out` folder is always free.

Labels follow the routing policy of DESIGN.md. The agent outputs of the well-formed cases are
instances of the payload models in `sdr_pipeline.contracts.payloads`, dumped to JSON, so the
`contract` routing policy can be measured on them; the key-drift, value-drift and free-text cases
deliberately break those contracts the way real LLM agents do.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sdr_pipeline.contracts import Envelope, Lead
from sdr_pipeline.contracts.payloads import InboundReply
from sdr_pipeline.evals.datasets import Example, count_table, dataset_sha256, load_dataset, write_dataset
from sdr_pipeline.exceptions import UserError
from tools.datagen.cards import render_card, render_hard_card
from tools.datagen.draw import EPOCH, Draw
from tools.datagen.phrasebook import Phrasebook, load_phrasebook
from tools.datagen.scenarios import PLAN

__all__ = [
    "DATASETS_DIR",
    "DATASET_NAME",
    "DEFAULT_SEED",
    "DEFAULT_TEST_FRACTION",
    "HARD_CASES_FILE",
    "GeneratedDataset",
    "assign_splits",
    "generate_dataset",
    "generate_examples",
    "next_free_name",
]

logger = logging.getLogger(__name__)

DATASETS_DIR = Path(__file__).resolve().parents[2] / "datasets"
"""The checkout's `datasets/` folder: the default output and where the hard cases live."""
DATASET_NAME = "routing_v1"
DEFAULT_SEED = 20250606
DEFAULT_TEST_FRACTION = 0.4
"""Share of each label (and of the hard cases) that goes to `test`; the rest is `dev`."""
HARD_CASES_FILE = "hard_cases.jsonl"
COMMAND = "python -m tools.datagen"
"""How the cards say the dataset was made (run from the repository root)."""

_VERSIONED = re.compile(r"^(?P<stem>.+)_v(?P<number>\d+)$")


def generate_examples(seed: int = DEFAULT_SEED, *, book: Phrasebook | None = None) -> list[Example]:
    """The generated examples (no hard cases, no splits), in plan order: the same seed, the same list."""
    rng = random.Random(seed)
    draw = Draw(rng, book or load_phrasebook())
    examples: list[Example] = []
    for scenario, count in PLAN:
        for index in range(count):
            case = scenario(draw, index)
            created_at = EPOCH + timedelta(minutes=rng.randrange(0, 60 * 24 * 120))
            context = case.context
            if isinstance(context, dict) and case.produced_by == "inbound_email":
                received = created_at - timedelta(minutes=case.minutes_before)
                context = {**context, "received_at": received.isoformat().replace("+00:00", "Z")}
                InboundReply.model_validate(context)  # a generator bug, not a dataset property, if this fails
            envelope = Envelope(
                message_id=f"{rng.getrandbits(128):032x}",
                lead_id=f"lead-{rng.getrandbits(40):010x}",
                hop=case.hop,
                produced_by=case.produced_by,
                created_at=created_at,
                lead=Lead.model_validate(case.lead),
                context=context,
                parent_message_id=f"{rng.getrandbits(128):032x}" if case.hop > 0 else None,
            )
            examples.append(Example(
                id=f"gen-{len(examples) + 1:04d}", message=envelope, expected_agent=case.label,
                tags=tuple(case.tags), note=case.note,
            ))
    return examples


def assign_splits(examples: Sequence[Example], *, seed: int, test_fraction: float) -> list[Example]:
    """Stratified by label and origin (generated or hard case), balanced by tags, then shuffled into one order.

    Within a stratum the examples are ordered by their tags (randomly among equal tags) and
    dealt systematically: every 1/test_fraction-th one goes to `test`. So each tag combination,
    language and intent is split in about the same proportion as the labels. The final shuffle
    makes `--limit N` on a split take a mixed sample, not one scenario.
    """
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test fraction {test_fraction} is not between 0 and 1", fix="use e.g. 0.4")
    rng = random.Random(f"split-{seed}")
    strata: dict[tuple[str, bool], list[Example]] = {}
    for example in sorted(examples, key=lambda item: item.id):
        strata.setdefault((example.expected_agent, example.has_tag("hard_case")), []).append(example)
    assigned: list[Example] = []
    for key in sorted(strata):
        members = strata[key]
        rng.shuffle(members)
        members.sort(key=lambda item: item.tags)  # stable: the shuffle decides among equal tags
        offset = rng.random()
        for position, member in enumerate(members):
            before, after = position * test_fraction + offset, (position + 1) * test_fraction + offset
            to_test = math.floor(after) > math.floor(before)
            assigned.append(member.model_copy(update={"split": "test" if to_test else "dev"}))
    assigned.sort(key=lambda item: item.id)
    rng.shuffle(assigned)
    return assigned


def next_free_name(out_dir: Path, name: str) -> str:
    """The first version after every `<stem>_vN.jsonl` in `out_dir`: `routing_v1` → `routing_v2`."""
    match = _VERSIONED.match(name)
    stem = match["stem"] if match else name
    taken = [int(number) for path in out_dir.glob(f"{stem}_v*.jsonl")
             if (number := path.name.removeprefix(f"{stem}_v").removesuffix(".jsonl")).isdigit()]
    return f"{stem}_v{max([1, *taken]) + 1}"


def _refuse_overwrite(out_dir: Path, name: str) -> None:
    for path in (out_dir / f"{name}.jsonl", out_dir / f"{name}.card.md"):
        if path.exists():
            free = next_free_name(out_dir, name)
            raise UserError(f"{path} already exists and a dataset is never rewritten",
                            fix=f"write the next version with `--name {free}`, or pass `--out` a fresh folder")


def _load_hard_cases(path: Path) -> list[Example]:
    cases = load_dataset(path)
    for case in cases:
        if case.split is not None:
            raise UserError(f"{path}: hard case {case.id} has split {case.split!r}",
                            fix="leave `split` out of hard cases; the generator assigns splits")
        if not case.id.startswith("hard-") or not case.has_tag("hard_case"):
            raise UserError(f"{path}: hard case {case.id} needs an id starting with 'hard-' and the tag hard_case",
                            fix="keep hard-case ids and tags apart from generated ones")
    return cases


@dataclass(frozen=True)
class GeneratedDataset:
    """What `generate_dataset` wrote."""

    path: Path
    card_path: Path
    sha256: str
    hard_cases_card_path: Path
    hard_cases_sha256: str
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Label -> {"dev": n, "test": n, "total": n}."""

    @property
    def size(self) -> int:
        return sum(counts["total"] for counts in self.label_counts.values())


def generate_dataset(
    out_dir: Path | str = DATASETS_DIR,
    *,
    seed: int = DEFAULT_SEED,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    hard_cases_path: Path | str | None = None,
    name: str = DATASET_NAME,
    book: Phrasebook | None = None,
) -> GeneratedDataset:
    """Write `<name>.jsonl`, its card and the hard-case card into `out_dir` (made if missing).

    Refuses, before writing anything, when `<name>.jsonl` or its card already exists there.
    The hard cases default to the checkout's `datasets/hard_cases.jsonl`.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} is a file, not a folder", fix="pass `--out` a folder (a new one is made)")
    _refuse_overwrite(out_dir, name)
    hard_path = Path(hard_cases_path) if hard_cases_path is not None else DATASETS_DIR / HARD_CASES_FILE
    hard_cases = _load_hard_cases(hard_path)
    hard_sha = dataset_sha256(hard_path)
    generated = generate_examples(seed, book=book)
    examples = assign_splits([*generated, *hard_cases], seed=seed, test_fraction=test_fraction)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.jsonl"
    sha = write_dataset(examples, path)
    command = f"{COMMAND} --seed {seed} --test-fraction {test_fraction:g}"
    if name != DATASET_NAME:
        command += f" --name {name}"
    card_path = out_dir / f"{name}.card.md"
    card_path.write_text(render_card(examples, name=name, command=command, sha=sha, seed=seed,
                                     test_fraction=test_fraction, n_generated=len(generated),
                                     hard_name=hard_path.name, hard_sha=hard_sha),
                         encoding="utf-8")
    hard_card_path = out_dir / (hard_path.name.removesuffix(".jsonl") + ".card.md")
    hard_card_path.write_text(render_hard_card(hard_cases, file_name=hard_path.name, sha=hard_sha, name=name),
                              encoding="utf-8")
    labels = count_table(examples, by="label")
    logger.info("wrote %d examples to %s (sha256 %s)", len(examples), path, sha[:12])
    return GeneratedDataset(
        path=path, card_path=card_path, sha256=sha, hard_cases_card_path=hard_card_path, hard_cases_sha256=hard_sha,
        label_counts={label: {column: int(value) for column, value in row.items()} for label, row in
                      labels.to_dict(orient="index").items()},
    )
