"""Labelled routing datasets in the lab: the line format (from `contracts.dataset`), plus writing,
counting and the frame notebooks explore.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from sdr_pipeline.contracts import dataset as _line_format
from sdr_pipeline.contracts.dataset import *  # noqa: F403  (the line format, re-exported for the lab)
from sdr_pipeline.contracts.dataset import ROUTING_LABELS, SPLITS, Example, dataset_sha256

__all__ = [*_line_format.__all__, "DatasetDiff", "count_table", "diff_datasets", "dump_example", "to_frame",
           "write_dataset"]


def dump_example(example: Example) -> str:
    """The canonical one-line JSON of an example (no `split` or `provenance` key when it has none)."""
    data = example.model_dump(mode="json")
    if data["split"] is None:
        del data["split"]
    if not data["provenance"]:
        del data["provenance"]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def write_dataset(examples: Iterable[Example], path: Path | str) -> str:
    """Write examples as canonical JSONL (UTF-8, `\\n` endings) and return the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(dump_example(example) + "\n" for example in examples).encode("utf-8"))
    return dataset_sha256(path)


def _context_kind(context: Any) -> str:
    if context is None:
        return "null"
    return "text" if isinstance(context, str) else "object"


def to_frame(examples: Sequence[Example]) -> pd.DataFrame:
    """One row per example with what exploration and slicing need (lengths in characters)."""
    rows = []
    for example in examples:
        message = example.message
        context = message.context
        context_text = context if isinstance(context, str) else json.dumps(context, ensure_ascii=False)
        languages = [tag.split(":", 1)[1] for tag in example.tags if tag.startswith("lang:")]
        rows.append({
            "id": example.id,
            "split": example.split,
            "expected_agent": example.expected_agent,
            "produced_by": message.produced_by,
            "hop": message.hop,
            "context_kind": _context_kind(context),
            "language": languages[0] if languages else "en",
            "tags": example.tags,
            "context_chars": 0 if context is None else len(context_text),
            "message_chars": len(message.to_json()),
        })
    return pd.DataFrame(rows)


def count_table(examples: Sequence[Example], *, by: Literal["label", "tag"]) -> pd.DataFrame:
    """Counts per label (in registry order) or per tag (by name), one column per split plus `total`."""
    counters: dict[str, Counter[str]] = {name: Counter() for name in (*SPLITS, "unassigned")}
    for example in examples:
        keys = (example.expected_agent,) if by == "label" else example.tags
        counters[example.split or "unassigned"].update(keys)
    if by == "label":
        index = [label for label in ROUTING_LABELS if any(counter[label] for counter in counters.values())]
    else:
        index = sorted(set().union(*counters.values()))
    columns = [name for name in (*SPLITS, "unassigned") if counters[name]]
    table = pd.DataFrame({name: [counters[name][key] for key in index] for name in columns},
                         index=pd.Index(index, name=by), dtype="int64")
    table["total"] = table.sum(axis=1) if columns else 0
    return table


@dataclass(frozen=True)
class DatasetDiff:
    """What changed from one dataset to another, matched by message id."""

    added: list[Example]
    removed: list[Example]
    relabelled: list[tuple[Example, Example]]
    """(before, after) of each message whose expected agent changed."""
    moved: list[tuple[Example, Example]]
    """(before, after) of each message that changed split."""

    def label_counts(self, before: Sequence[Example], after: Sequence[Example]) -> pd.DataFrame:
        """Examples per label before and after, and the change."""
        frame = pd.DataFrame({"before": Counter(e.expected_agent for e in before),
                              "after": Counter(e.expected_agent for e in after)}).fillna(0).astype(int)
        frame["change"] = frame["after"] - frame["before"]
        return frame.reindex([label for label in ROUTING_LABELS if label in frame.index]).rename_axis("label")


def diff_datasets(before: Sequence[Example], after: Sequence[Example]) -> DatasetDiff:
    """`after` against `before`: added, removed, relabelled and moved examples."""
    old = {example.message.message_id: example for example in before}
    new = {example.message.message_id: example for example in after}
    both = [(old[key], new[key]) for key in old.keys() & new.keys()]
    return DatasetDiff(
        added=[new[key] for key in new.keys() - old.keys()], removed=[old[key] for key in old.keys() - new.keys()],
        relabelled=sorted(((a, b) for a, b in both if a.expected_agent != b.expected_agent), key=lambda p: p[1].id),
        moved=sorted(((a, b) for a, b in both if a.split != b.split), key=lambda p: p[1].id))
