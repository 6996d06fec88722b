"""The labelled-dataset line format: one JSONL line per routing example, validated line by line.

A line is `{"id", "message": <envelope>, "expected_agent", "tags", "note", "split"}`.
`split` (`dev` or `test`) lives on each line, so one file holds both splits and
`load_dataset(path, split="test")` picks one; source files whose splits are assigned
later leave it out. Every envelope must carry its own `message_id` and `created_at`: the
envelope model would otherwise invent fresh ones on every load and two runs over the
same file would not see the same messages. Tags are free strings (`schema-drift`,
`lang:de`, `producer:hubspot`), so a dataset written elsewhere loads as it is.

It is a contract because more than the lab reads it: the router's example pool (retrieval
few-shot, the cascade's classifier) is a dataset split, loaded by the routing job too.
The loader stops at the first bad line and says where: `path line N, field 'a.b': problem`,
raised as a `UserError` whose `__cause__` is a `ContractError` with the field path.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sdr_pipeline.contracts.envelope import Envelope
from sdr_pipeline.contracts.parsing import first_problem
from sdr_pipeline.exceptions import ContractError, UserError

__all__ = [
    "ROUTING_LABELS",
    "SPLITS",
    "Example",
    "RoutingLabel",
    "Split",
    "dataset_sha256",
    "load_dataset",
]

logger = logging.getLogger(__name__)

RoutingLabel = Literal["lead_ingestion", "lead_scoring", "active_outreach", "nurture_campaign", "send_email", "none"]
ROUTING_LABELS: tuple[str, ...] = get_args(RoutingLabel)
"""Every agent the router may pick, plus `none` (stop); the order of the registry."""

Split = Literal["dev", "test"]
SPLITS: tuple[str, ...] = get_args(Split)

_TAG_MAX_CHARS = 100
_REQUIRED_ENVELOPE_KEYS = ("message_id", "created_at")
_CONTRACT = "routing dataset example"


class Example(BaseModel):
    """One labelled message: what the router sees and which agent it should pick."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    """Stable, unique within a file (`gen-0042`, `hard-007`)."""
    message: Envelope
    """The envelope exactly as it would arrive on `agent_messages`."""
    expected_agent: RoutingLabel
    """Ground truth under the routing policy of DESIGN.md."""
    tags: tuple[str, ...] = ()
    """Categories for slicing results: `reply`, `intent:demo`, `lang:de`, `prompt_injection`, ..."""
    note: str = ""
    """Why the label is what it is, for the hard ones."""
    split: Split | None = None
    """`dev` (prompt work, few-shot picks) or `test` (the promotion gate); None in source files."""
    provenance: dict[str, str | int | float | None] = Field(default_factory=dict)
    """Where a harvested example came from (topic, partition, offset, prompt version, policy, model);
    empty for written and generated ones."""

    @model_validator(mode="before")
    @classmethod
    def _envelope_ids_given(cls, data: Any) -> Any:
        message = data.get("message") if isinstance(data, dict) else None
        if isinstance(message, dict):
            for key in _REQUIRED_ENVELOPE_KEYS:
                if key not in message:
                    raise _MissingEnvelopeKey(key)
        return data

    @field_validator("tags")
    @classmethod
    def _tags_well_formed(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        for tag in tags:
            if not tag.strip() or len(tag) > _TAG_MAX_CHARS or not tag.isprintable():
                raise ValueError(f"tag {tag!r} must be 1-{_TAG_MAX_CHARS} printable characters")
        if len(set(tags)) != len(tags):
            raise ValueError("tags repeat")
        return tags

    def has_tag(self, tag: str) -> bool:
        return tag in self.tags


class _MissingEnvelopeKey(ValueError):
    """Raised inside validation so the loader can report `message.<key>` as the field."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"missing; datasets must fix {key} so that every run sees the same message")


def _first_problem(error: ValidationError) -> tuple[str, str]:
    """Field path and message of the first validation problem."""
    cause = error.errors()[0].get("ctx", {}).get("error")
    if isinstance(cause, _MissingEnvelopeKey):
        return f"message.{cause.key}", str(cause)
    return first_problem(error, whole="(line)")


def _fix_for(field: str) -> str:
    if field == "expected_agent":
        return f"expected_agent must be one of {', '.join(ROUTING_LABELS)}"
    if field == "split":
        return f"split must be one of {', '.join(SPLITS)} (or absent)"
    if field.startswith("message"):
        return "the message must be a valid envelope (see DESIGN.md, 'The envelope')"
    return "each line is {id, message, expected_agent, tags, note, split}; see datasets/routing_v1.card.md"


def load_dataset(path: Path | str, *, split: str | None = None) -> list[Example]:
    """All examples of a JSONL file (or those of one split), in file order; rejects the first bad line."""
    path = Path(path)
    if split is not None and split not in SPLITS:
        raise UserError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLITS)}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"dataset {path} does not exist",
                        fix="pass the path of a dataset JSONL file (see datasets/)") from None
    except UnicodeDecodeError as error:
        raise UserError(f"dataset {path} is not UTF-8 text ({error.reason} at byte {error.start})",
                        fix="save the file as UTF-8") from None
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(
                f"{path} line {number}: not valid JSON ({error.msg} at column {error.colno})",
                fix="each line must be one complete JSON object",
            ) from None
        if not isinstance(data, dict):
            raise UserError(f"{path} line {number}: expected a JSON object, got {type(data).__name__}",
                            fix="each line must be one JSON object")
        try:
            example = Example.model_validate(data)
        except ValidationError as error:
            field, problem = _first_problem(error)
            cause = ContractError(_CONTRACT, problem, field=field, message_id=_get(data, "message", "message_id"),
                                  lead_id=_get(data, "message", "lead_id"))
            raise UserError(f"{path} line {number}, field '{field}': {problem}", fix=_fix_for(field)) from cause
        if example.id in seen:
            cause = ContractError(_CONTRACT, "duplicate id", field="id")
            raise UserError(f"{path} line {number}, field 'id': {example.id!r} already used on line {seen[example.id]}",
                            fix="ids must be unique within a file") from cause
        seen[example.id] = number
        examples.append(example)
    if not examples:
        raise UserError(f"dataset {path} has no examples", fix="check that you passed the right file")
    if split is not None:
        examples = [example for example in examples if example.split == split]
        if not examples:
            raise UserError(f"dataset {path} has no example in split {split!r}",
                            fix="generated datasets carry `split` on every line; source files such as "
                                "hard_cases.jsonl have none, load them without --split")
    logger.debug("loaded %d examples from %s (split=%s)", len(examples), path, split)
    return examples


def _get(data: dict[str, Any], *keys: str) -> str | None:
    value: Any = data
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def dataset_sha256(path: Path | str) -> str:
    """Hex sha256 of the file's bytes: what an MLflow run records to pin its data."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()
