"""Fixtures of the lab tests: the checkout's notebooks, a tiny dataset, papermill, and combined settings."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import papermill
import pytest

from sdr_pipeline.evals.datasets import Example, load_dataset, write_dataset
from sdr_pipeline.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {
    "route_eval": REPO_ROOT / "evals" / "route_eval.ipynb",
    "compare": REPO_ROOT / "evals" / "compare.ipynb",
    "playground": REPO_ROOT / "notebooks" / "02_routing_playground.ipynb",
    "journeys": REPO_ROOT / "notebooks" / "03_lead_journeys.ipynb",
}


@pytest.fixture(scope="session")
def notebooks() -> dict[str, Path]:
    """Short names -> the notebooks this area owns."""
    return NOTEBOOKS


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def test_examples() -> list[Example]:
    """The test split of the repo's dataset."""
    return load_dataset(REPO_ROOT / "datasets" / "routing_v1.jsonl", split="test")


@pytest.fixture
def tiny_dataset(tmp_path: Path, test_examples: list[Example]) -> Path:
    """Twelve test examples covering every label, written as their own dataset file."""
    chosen: list[Example] = []
    for label in ("lead_ingestion", "lead_scoring", "active_outreach", "nurture_campaign", "send_email", "none"):
        chosen += [example for example in test_examples if example.expected_agent == label][:2]
    path = tmp_path / "tiny.jsonl"
    write_dataset(chosen, path)
    return path


@pytest.fixture
def run_notebook(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """Execute a notebook with papermill (kernel cwd: the repo) and return the JSON record it wrote."""

    def execute(notebook: Path, **parameters: Any) -> dict[str, Any]:
        results = tmp_path / f"{notebook.stem}-{uuid.uuid4().hex[:6]}.json"
        output = results.with_suffix(".ipynb")
        papermill.execute_notebook(str(notebook), str(output), parameters={**parameters, "results_path": str(results)},
                                   kernel_name="python3", cwd=str(REPO_ROOT), progress_bar=False)
        return json.loads(results.read_text())

    return execute


@pytest.fixture
def private_prompts(tmp_path: Path) -> tuple[Path, str]:
    """v1-v3 of prompts/router under a unique prompt name (registry names are global on a shared server)."""
    name = f"router_{uuid.uuid4().hex[:8]}"
    prompts_dir = tmp_path / "prompts"
    (prompts_dir / name).mkdir(parents=True)
    for version in ("v1", "v2", "v3"):
        shutil.copy(REPO_ROOT / "prompts" / "router" / f"{version}.yaml", prompts_dir / name)
    return prompts_dir, name


@pytest.fixture(scope="session")
def smol_lab(mlflow_server: Settings, llm_server_smol: Settings) -> Settings:
    """The SmolLM2 server and the MLflow server in one Settings."""
    return llm_server_smol.model_copy(update={
        "mlflow_port": mlflow_server.mlflow_port, "mlflow_tracking_uri": mlflow_server.tracking_uri,
    })
