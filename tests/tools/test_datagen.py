"""The dataset generator (`python -m tools.datagen`): reproducible to the byte, complete, consistent with the
agents' contracts, never rewriting a dataset, and strict about its phrasebook."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdr_pipeline.cli.main import app
from sdr_pipeline.evals.datasets import ROUTING_LABELS, SPLITS, Example, load_dataset
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.registry import load_registry
from tools.datagen import (
    DATASET_NAME,
    DEFAULT_SEED,
    DEFAULT_TEST_FRACTION,
    HARD_CASES_FILE,
    generate_dataset,
    generate_examples,
    load_phrasebook,
    next_free_name,
)
from tools.datagen.phrasebook import PHRASEBOOK_PATH

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ROOT / "datasets"
CHECKED_IN = DATASETS / f"{DATASET_NAME}.jsonl"
CARDS = (f"{DATASET_NAME}.card.md", "hard_cases.card.md")
CATEGORIES = (
    "missing_fields", "near_threshold", "next_step_conflict", "reply", "non_english", "prompt_injection", "spam",
    "unsubscribe", "out_of_office", "bounce", "free_text_output", "key_drift", "re_engagement",
)
DRIFTED = ("key_drift", "value_drift", "free_text_output")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default dataset written into a fresh folder (which the generator makes)."""
    out = tmp_path_factory.mktemp("fresh") / "datasets"
    return generate_dataset(out).path


@pytest.fixture(scope="module")
def dataset() -> list[Example]:
    return load_dataset(CHECKED_IN)


def test_checked_in_files_are_what_the_generator_writes(fresh: Path) -> None:
    assert fresh.read_bytes() == CHECKED_IN.read_bytes(), (
        "datasets/routing_v1.jsonl differs from the generator's output: the generator changed, so write a new "
        "version (`python -m tools.datagen --name routing_v2`) instead of changing what v1 means")
    for card in CARDS:
        assert (fresh.parent / card).read_text(encoding="utf-8") == (DATASETS / card).read_text(encoding="utf-8")


def test_same_seed_same_bytes_other_seed_other_bytes(fresh: Path, tmp_path: Path) -> None:
    again = generate_dataset(tmp_path / "again").path
    assert again.read_bytes() == fresh.read_bytes()
    for card in CARDS:
        assert (again.parent / card).read_bytes() == (fresh.parent / card).read_bytes()
    other = generate_dataset(tmp_path / "other", seed=DEFAULT_SEED + 1).path
    assert other.read_bytes() != fresh.read_bytes()


def test_generator_ignores_the_global_random_state() -> None:
    book = load_phrasebook()
    random.seed(1)
    first = generate_examples(7, book=book)
    random.seed(2)
    assert generate_examples(7, book=book) == first


def test_refuses_to_rewrite_a_dataset_and_names_the_next_version(tmp_path: Path) -> None:
    (tmp_path / "routing_v1.jsonl").write_text("v1, as published\n", encoding="utf-8")
    (tmp_path / "routing_v3.jsonl").write_text("v3, as published\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"routing_v1\.jsonl already exists.*--name routing_v4"):
        generate_dataset(tmp_path)
    assert (tmp_path / "routing_v1.jsonl").read_text(encoding="utf-8") == "v1, as published\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["routing_v1.jsonl", "routing_v3.jsonl"]
    (tmp_path / "routing_v4.card.md").write_text("a card whose dataset was lost\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"routing_v4\.card\.md already exists"):
        generate_dataset(tmp_path, name="routing_v4")


@pytest.mark.parametrize(("name", "files", "expected"), [
    ("routing_v1", [], "routing_v2"),
    ("routing_v1", ["routing_v1.jsonl", "routing_v2.jsonl", "routing_v10.jsonl", "field_v20.jsonl"], "routing_v11"),
    ("routing_v7", ["routing_v2.jsonl"], "routing_v3"),
    ("custom", ["custom.jsonl"], "custom_v2"),
])
def test_next_free_name(tmp_path: Path, name: str, files: list[str], expected: str) -> None:
    for file in files:
        (tmp_path / file).touch()
    assert next_free_name(tmp_path, name) == expected


def _edit(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, f"the test's anchor {old!r} is not in phrasebook.yaml any more"
        return text.replace(old, new, 1)
    return edit


@pytest.mark.parametrize(("edit", "expected"), [
    (_edit("\nfirst_names:\n", "\nfrist_names:\n"), "unknown key 'frist_names' (did you mean 'first_names'?)"),
    (_edit("  pt: [São Paulo,", "  br: [São Paulo,"), "cities: no entry for language 'pt'"),
    (_edit("{first}, real-time dashboards", "{frist}, real-time dashboards"),
     "outreach_subjects.1: unknown placeholder {frist}; a template here may use {city}, {company}"),
    (_edit("personal_email_domains: [", "personal_email_domains: [] #"),
     "personal_email_domains: Tuple should have at least 1 item"),
    (_edit("  demo: ['Demo next week?', 'Demo pls. Tue?']\n", ""), "terse_cores: no entry for intent 'demo'"),
    (_edit(", enthusiastic]\n", "]\n"), "tone_closers: unknown tone 'enthusiastic'"),
    (_edit("languages: [en, de,", "languages: [en, 'de,"), "is not valid YAML"),
    (_edit("  job_title: xxx\n", "  job_titel: xxx\n"), "junk_leads.0: unknown lead field 'job_titel'"),
])
def test_a_slip_in_the_phrasebook_is_named(tmp_path: Path, edit: Callable[[str], str], expected: str) -> None:
    broken = tmp_path / "phrasebook.yaml"
    broken.write_text(edit(PHRASEBOOK_PATH.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(UserError) as raised:
        load_phrasebook(broken)
    assert expected in str(raised.value)
    assert str(broken) in str(raised.value)


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


def test_the_tool_as_a_process_then_validate(tmp_path: Path) -> None:
    """`python -m tools.datagen` from the checkout writes a fresh folder; run again, it refuses in one line;
    `sdr-pipeline datasets validate` accepts what it wrote."""
    out = tmp_path / "cli"
    command = [sys.executable, "-m", "tools.datagen", "--out", str(out), "--seed", "5"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "active_outreach" in done.stdout and "sha256" in done.stdout
    assert sorted(path.name for path in out.iterdir()) == ["hard_cases.card.md", "routing_v1.card.md",
                                                           "routing_v1.jsonl"]
    written = (out / "routing_v1.jsonl").read_bytes()
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "--name routing_v2" in again.stderr, again.stderr
    assert (out / "routing_v1.jsonl").read_bytes() == written
    runner = CliRunner()
    result = runner.invoke(app, ["datasets", "validate", str(out / "routing_v1.jsonl"), "--split", "test"])
    assert result.exit_code == 0, result.output
    bad = out / "bad.jsonl"
    bad.write_text('{"id": 1}\n', encoding="utf-8")
    result = runner.invoke(app, ["datasets", "validate", str(bad)])
    assert result.exit_code != 0
    assert isinstance(result.exception, UserError) and "line 1, field 'id'" in str(result.exception)


def test_the_runtime_cli_points_to_the_tool() -> None:
    result = CliRunner().invoke(app, ["datasets", "generate", "--seed", "5", "--out", "datasets"])
    assert result.exit_code != 0
    assert isinstance(result.exception, UserError)
    assert "python -m tools.datagen" in str(result.exception) and "\n" not in str(result.exception)
