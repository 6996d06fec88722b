"""Sweep files: the repo's ones validate, combinations are the full product, mistakes name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr_pipeline.evals.sweep import SweepPoint, load_sweep, plan
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "evals" / "sweeps").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_sweep_file_in_the_repo_is_valid(path: Path) -> None:
    config = load_sweep(path)
    assert config.name == path.stem
    for dataset in config.datasets:
        assert (REPO_ROOT / dataset).exists(), dataset


def test_plan_is_the_product_of_the_axes() -> None:
    config = load_sweep(REPO_ROOT / "evals" / "sweeps" / "versions_policies.yaml")
    points = plan(config, Settings(_env_file=None))
    assert len(points) == 4 * 1 * 2 * 1  # versions v1-v4 x one model x two policies x one dataset
    assert points[0] == SweepPoint("v1", "qwen2.5-coder-1.5b-instruct-q4_k_m", "llm", Path("datasets/routing_v1.jsonl"))
    assert len({point.slug for point in points}) == len(points)


def test_models_default_to_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("versions: [v1]\ndatasets: [datasets/routing_v1.jsonl]\n")
    config = load_sweep(path)
    assert config.name == "mine" and config.parallel == 1
    assert {point.model for point in plan(config, Settings(_env_file=None, llm_model="other-model"))} == {"other-model"}


@pytest.mark.parametrize(("text", "field"), [
    ("versions: [v1]\ndatasets: [d.jsonl]\npolicies: [llm, magic]\n", "policies"),
    ("versions: []\ndatasets: [d.jsonl]\n", "versions"),
    ("versions: [v1]\ndatasets: [d.jsonl]\nparallel: 0\n", "parallel"),
    ("versions: [v1]\ndatasets: [d.jsonl]\nmodel: x\n", "model"),
])
def test_mistakes_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=field):
        load_sweep(path)
