"""The seeded generator: reproducible to the byte, complete, and consistent with the agents' contracts."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdr_pipeline.cli.main import app
from sdr_pipeline.evals.datasets import ROUTING_LABELS, SPLITS, Example, load_dataset
from sdr_pipeline.evals.generate import (
    DATASET_NAME,
    DEFAULT_SEED,
    DEFAULT_TEST_FRACTION,
    HARD_CASES_FILE,
    generate_dataset,
    generate_examples,
)
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.registry import load_registry

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
CHECKED_IN = DATASETS / f"{DATASET_NAME}.jsonl"
CATEGORIES = (
    "missing_fields", "near_threshold", "next_step_conflict", "reply", "non_english", "prompt_injection", "spam",
    "unsubscribe", "out_of_office", "bounce", "free_text_output", "key_drift", "re_engagement",
)
DRIFTED = ("key_drift", "value_drift", "free_text_output")


def _generate(out: Path, seed: int = DEFAULT_SEED) -> Path:
    out.mkdir()
    shutil.copy(DATASETS / HARD_CASES_FILE, out / HARD_CASES_FILE)
    return generate_dataset(out, seed=seed).path


@pytest.fixture(scope="module")
def dataset() -> list[Example]:
    return load_dataset(CHECKED_IN)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first, second = _generate(tmp_path / "a"), _generate(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    for card in (f"{DATASET_NAME}.card.md", "hard_cases.card.md"):
        assert (tmp_path / "a" / card).read_bytes() == (tmp_path / "b" / card).read_bytes()
    assert _generate(tmp_path / "c", seed=DEFAULT_SEED + 1).read_bytes() != first.read_bytes()


def test_checked_in_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    fresh = _generate(tmp_path / "fresh")
    assert fresh.read_bytes() == CHECKED_IN.read_bytes(), (
        "datasets/routing_v1.jsonl differs from the generator's output: run `sdr-pipeline datasets generate`")
    for card in (f"{DATASET_NAME}.card.md", "hard_cases.card.md"):
        assert (fresh.parent / card).read_text(encoding="utf-8") == (DATASETS / card).read_text(encoding="utf-8")


def test_generator_ignores_the_global_random_state() -> None:
    random.seed(1)
    first = generate_examples(7)
    random.seed(2)
    assert generate_examples(7) == first


def test_size_labels_and_categories(dataset: list[Example]) -> None:
    generated = [example for example in dataset if not example.has_tag("hard_case")]
    assert len(generated) >= 600
    assert len(dataset) - len(generated) >= 50
    for split in SPLITS:
        labels = Counter(example.expected_agent for example in dataset if example.split == split)
        assert set(labels) == set(ROUTING_LABELS), split
    tags = Counter(tag for example in dataset for tag in example.tags)
    assert not [category for category in CATEGORIES if tags[category] < 5]
    for facet, values in (("intent", ("demo", "pricing", "meeting", "question", "not_now", "send_material",
                                      "keep_posted", "unsubscribe", "opt_out")),
                          ("tone", ("friendly", "formal", "terse", "annoyed", "enthusiastic")),
                          ("lang", ("de", "es", "fr", "it", "nl", "pt"))):
        assert not [value for value in values if tags[f"{facet}:{value}"] < 3], facet
    assert len({example.id for example in dataset}) == len(dataset)
    assert len({example.message.message_id for example in dataset}) == len(dataset)


def test_splits_are_stratified_by_label(dataset: list[Example]) -> None:
    for label in ROUTING_LABELS:
        for hard in (False, True):
            members = [example for example in dataset
                       if example.expected_agent == label and example.has_tag("hard_case") == hard]
            n_test = sum(example.split == "test" for example in members)
            assert abs(n_test - len(members) * DEFAULT_TEST_FRACTION) <= 1, (label, hard)


def test_contexts_agree_with_the_agent_contracts(dataset: list[Example]) -> None:
    """Well-formed messages pass the expected agent's input contract (and only it, outside replies);
    drifted and free-text agent outputs fail it, so the `contract` policy is tested on both."""
    registry = load_registry()
    problems = []
    for example in dataset:
        accepted = {agent for agent, reason in registry.candidates(example.message).items() if reason is None}
        expected = example.expected_agent
        if example.has_tag("well_formed") and expected != "none":
            if expected not in accepted:
                reason = registry.check_input(expected, example.message)
                problems.append((example.id, "well_formed but rejected", reason))
            elif not example.has_tag("reply") and accepted != {expected}:
                problems.append((example.id, "well_formed but also accepted by", accepted - {expected}))
        if any(example.has_tag(tag) for tag in DRIFTED) and expected in accepted:
            problems.append((example.id, "drifted but accepted", expected))
        if example.has_tag("stage:delivery") and accepted - {"none"}:
            problems.append((example.id, "a delivery report accepted by", accepted - {"none"}))
    assert not problems


def test_hard_cases_are_explained() -> None:
    cases = load_dataset(DATASETS / HARD_CASES_FILE)
    assert all(case.note and case.has_tag("hard_case") and case.split is None for case in cases)
    assert {case.expected_agent for case in cases} == set(ROUTING_LABELS)


def test_cli_generate_and_validate(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    out.mkdir()
    shutil.copy(DATASETS / HARD_CASES_FILE, out / HARD_CASES_FILE)
    runner = CliRunner()
    result = runner.invoke(app, ["datasets", "generate", "--out", str(out), "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "active_outreach" in result.output and "sha256" in result.output
    result = runner.invoke(app, ["datasets", "validate", str(out / f"{DATASET_NAME}.jsonl"), "--split", "test"])
    assert result.exit_code == 0, result.output
    bad = out / "bad.jsonl"
    bad.write_text('{"id": 1}\n', encoding="utf-8")
    result = runner.invoke(app, ["datasets", "validate", str(bad)])
    assert result.exit_code != 0
    assert isinstance(result.exception, UserError) and "line 1, field 'id'" in str(result.exception)
