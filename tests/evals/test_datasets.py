"""The dataset loader: good files load, and a bad line is named with its number and field."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from sdr_pipeline.evals.datasets import (
    ROUTING_LABELS,
    count_table,
    dataset_sha256,
    dump_example,
    load_dataset,
    write_dataset,
)
from sdr_pipeline.exceptions import ContractError, UserError
from sdr_pipeline.registry import NONE_AGENT, load_registry

GOOD: dict[str, Any] = {
    "id": "t-1",
    "message": {
        "message_id": "m-1", "lead_id": "lead-1", "hop": 0, "produced_by": "web_form",
        "created_at": "2025-03-03T08:00:00Z",
        "lead": {"name": "Ada Lovelace", "email": "ada@example.com", "company_name": "Engines Ltd"},
        "context": None,
    },
    "expected_agent": "lead_ingestion",
    "tags": ["stage:raw_lead"],
    "note": "a fresh web-form lead",
    "split": "dev",
}


def _line(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    data.update(changes)
    return data


def _write(tmp_path: Path, *lines: dict[str, Any] | str) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
                    encoding="utf-8")
    return path


def _load_error(path: Path) -> UserError:
    with pytest.raises(UserError) as caught:
        load_dataset(path)
    return caught.value


def test_labels_are_the_registry_agents_plus_none() -> None:
    assert ROUTING_LABELS == (*load_registry().names, NONE_AGENT)


def test_loads_and_filters_by_split(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, "", _line(id="t-2", split="test", expected_agent="none"))
    examples = load_dataset(path)
    assert [example.id for example in examples] == ["t-1", "t-2"]
    assert examples[0].message.lead.email == "ada@example.com"
    assert [example.id for example in load_dataset(path, split="test")] == ["t-2"]
    with pytest.raises(UserError, match="unknown split"):
        load_dataset(path, split="train")


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, '{"id": "t-2", "message": ')
    error = _load_error(path)
    assert "line 2" in str(error) and "not valid JSON" in str(error)


def test_missing_expected_agent_names_line_and_field(tmp_path: Path) -> None:
    broken = _line(id="t-2")
    del broken["expected_agent"]
    error = _load_error(_write(tmp_path, GOOD, broken))
    assert "line 2, field 'expected_agent'" in str(error)
    assert "Field required" in str(error)
    assert isinstance(error.__cause__, ContractError) and error.__cause__.field == "expected_agent"


def test_unknown_label_lists_the_labels(tmp_path: Path) -> None:
    error = _load_error(_write(tmp_path, _line(expected_agent="lead_scorer")))
    assert "line 1, field 'expected_agent'" in str(error)
    assert error.fix is not None and all(label in error.fix for label in ROUTING_LABELS)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda message: message.update(hop=-1), "message.hop"),
        (lambda message: message.pop("lead_id"), "message.lead_id"),
        (lambda message: message.update(lead="Ada"), "message.lead"),
        (lambda message: message.update(context=["not", "allowed"]), "message.context"),
        (lambda message: message.pop("message_id"), "message.message_id"),
        (lambda message: message.pop("created_at"), "message.created_at"),
    ],
)
def test_bad_envelope_field_is_named(tmp_path: Path, mutate: Any, field: str) -> None:
    broken = _line()
    mutate(broken["message"])
    error = _load_error(_write(tmp_path, GOOD | {"id": "t-0"}, broken))
    assert f"line 2, field '{field}" in str(error)
    assert isinstance(error.__cause__, ContractError)
    assert error.__cause__.field.startswith(field)


def test_typo_in_a_key_and_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    typo = _line()
    typo["expected_agnet"] = typo.pop("expected_agent")
    assert "field 'expected_agent'" in str(_load_error(_write(tmp_path, typo)))
    error = _load_error(_write(tmp_path, GOOD, GOOD))
    assert "line 2, field 'id'" in str(error) and "line 1" in str(error)
    error = _load_error(_write(tmp_path, _line(tags=["bad\ttab"])))
    assert "field 'tags'" in str(error)
    error = _load_error(_write(tmp_path, _line(tags=["drift", "drift"])))
    assert "tags repeat" in str(error)


def test_tags_are_free_strings(tmp_path: Path) -> None:
    """A dataset written elsewhere loads as it is: `schema-drift`, `Lang:DE`, `producer:HubSpot CRM`."""
    free = ["schema-drift", "Lang:DE", "producer:HubSpot CRM"]
    (example,) = load_dataset(_write(tmp_path, _line(tags=free)))
    assert example.tags == tuple(free)


def test_missing_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(tmp_path / "nope.jsonl")
    with pytest.raises(UserError, match="no examples"):
        load_dataset(_write(tmp_path, ""))
    with pytest.raises(UserError, match="no example in split 'test'"):
        load_dataset(_write(tmp_path, GOOD), split="test")


def test_write_round_trips_byte_for_byte(tmp_path: Path) -> None:
    source = _write(tmp_path, GOOD, _line(id="t-2", split=None, note="Grüße, ünïcode"))
    examples = load_dataset(source)
    first = tmp_path / "first.jsonl"
    sha = write_dataset(examples, first)
    assert sha == hashlib.sha256(first.read_bytes()).hexdigest() == dataset_sha256(first)
    second = tmp_path / "second.jsonl"
    write_dataset(load_dataset(first), second)
    assert first.read_bytes() == second.read_bytes()
    assert '"split"' not in dump_example(examples[1])
    assert "Grüße" in first.read_text(encoding="utf-8")


def test_count_table(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, _line(id="t-2", split="test", tags=["stage:raw_lead", "spam"], expected_agent="none"),
                  _line(id="t-3", split="test"))
    labels = count_table(load_dataset(path), by="label")
    assert labels.loc["lead_ingestion"].tolist() == [1, 1, 2]
    assert labels.loc["none"].tolist() == [0, 1, 1]
    tags = count_table(load_dataset(path), by="tag")
    assert tags.loc["stage:raw_lead", "total"] == 3 and tags.loc["spam", "test"] == 1
