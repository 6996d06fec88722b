"""The lab's commands end to end: `prompts register/list`, `eval run`, and a small SmolLM2 sweep into MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sdr_pipeline.cli.main import app
from sdr_pipeline.evals.tracking import find_eval_runs, mlflow_client
from sdr_pipeline.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    """The settings as SDR_* variables (papermill kernels inherit them), with room for a loaded 2-core machine."""
    return {**settings.to_env(), "SDR_MLFLOW_TRACKING_URI": settings.tracking_uri, "SDR_LLM_TIMEOUT_S": "300", **extra}


@pytest.mark.mlflow
def test_prompts_register_twice_then_list(mlflow_server: Settings, private_prompts: tuple[Path, str]) -> None:
    prompts_dir, name = private_prompts
    env = _env(mlflow_server, SDR_PROMPTS_DIR=str(prompts_dir))
    first = runner.invoke(app, ["prompts", "register", "--name", name], env=env)
    assert first.exit_code == 0, first.output
    assert first.output.count("registered") == 3
    second = runner.invoke(app, ["prompts", "register", "--name", name], env=env)
    assert second.exit_code == 0, second.output
    assert second.output.count("unchanged") == 3 and "registered" not in second.output.replace("registry", "")
    listing = runner.invoke(app, ["prompts", "list", "--name", name], env=env)
    assert listing.exit_code == 0, listing.output
    assert all(version in listing.output for version in ("v1", "v2", "v3"))


@pytest.mark.mlflow
def test_a_scripted_sweep_runs_every_point_in_parallel(mlflow_server: Settings, tmp_path: Path) -> None:
    sweep = {"name": "dry", "versions": ["v1", "v2", "v3"], "policies": ["llm"], "models": ["scripted"],
             "datasets": ["datasets/routing_v1.jsonl"], "split": "dev", "limit": 5, "parallel": 3, "scripted": True,
             "experiment": "dry-sweep", "output_dir": str(tmp_path / "output")}
    path = tmp_path / "dry.yaml"
    path.write_text(yaml.safe_dump(sweep))
    result = runner.invoke(app, ["eval", "sweep", str(path)], env=_env(mlflow_server))
    assert result.exit_code == 0, result.output
    runs = find_eval_runs(mlflow_server.tracking_uri, experiment="dry-sweep", tags={"sdr.sweep": "dry"})
    assert sorted(run.data.params["prompt_version"] for run in runs) == ["v1", "v2", "v3"]
    assert all(run.data.params["split"] == "dev" and run.data.metrics["n"] == 5 for run in runs)


@pytest.mark.llm
def test_eval_run_prints_json_metrics(llm_server_smol: Settings, tiny_dataset: Path) -> None:
    env = _env(llm_server_smol, SDR_PROMPTS_DIR=str(REPO_ROOT / "prompts"))
    result = runner.invoke(app, ["eval", "run", "--dataset", str(tiny_dataset), "--version", "v1", "--policy", "llm",
                                 "--limit", "6", "--json", "--no-cache", "--concurrency", "2"], env=env)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout[result.stdout.index("{"):])
    assert record["n"] == 6 and record["version"] == "v1" and record["model"] == llm_server_smol.llm_model
    metrics = record["metrics"]
    assert 0.0 <= metrics["accuracy_ci_low"] <= metrics["accuracy"] <= metrics["accuracy_ci_high"] <= 1.0
    assert metrics["latency_measured"] == 6 and metrics["latency_p50_s"] > 0  # --no-cache: every call measured
    assert metrics["prompt_tokens"] > 0 and metrics["cost_per_1k_messages"] == 0.0  # a local model is free


@pytest.mark.llm
@pytest.mark.mlflow
def test_a_small_smollm2_sweep_logs_every_metric_and_artifact(smol_lab: Settings, tmp_path: Path) -> None:
    sweep = {
        "name": "smol-test", "versions": ["v1", "v6"], "models": [smol_lab.llm_model], "policies": ["contract"],
        "datasets": [str(REPO_ROOT / "datasets" / "routing_v1.jsonl")], "split": "test", "limit": 10, "seed": 1,
        "concurrency": 2, "parallel": 2, "use_cache": False, "experiment": "sweep-test",
        "output_dir": str(tmp_path / "output"),
    }
    path = tmp_path / "smol-test.yaml"
    path.write_text(yaml.safe_dump(sweep))
    env = _env(smol_lab, SDR_PROMPTS_DIR=str(REPO_ROOT / "prompts"))
    result = runner.invoke(app, ["eval", "sweep", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "sweep smol-test: 2 runs" in result.output

    runs = find_eval_runs(smol_lab.tracking_uri, experiment="sweep-test", tags={"sdr.sweep": "smol-test"})
    assert sorted(run.data.params["prompt_version"] for run in runs) == ["v1", "v6"]
    client = mlflow_client(smol_lab.tracking_uri)
    for run in runs:
        params, metrics = run.data.params, run.data.metrics
        assert params["model"] == smol_lab.llm_model and params["limit"] == "10" and params["examples"] == "10"
        assert len(params["dataset_sha256"]) == 64 and len(params["prompt_hash"]) == 64
        assert {"accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1", "invalid_rate", "latency_p50_s",
                "latency_p95_s", "tokens_per_message", "total_tokens", "cost_per_1k_messages"} <= set(metrics)
        labels_in_slice = {key.removeprefix("support_") for key in metrics if key.startswith("support_")}
        assert labels_in_slice and all(f"recall_{label}" in metrics and f"precision_{label}" in metrics
                                       for label in labels_in_slice)
        assert metrics["n"] == 10 and metrics["latency_p50_s"] > 0
        artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
        assert {"predictions.csv", "confusion_matrix.png", "record.json", "notebook"} <= artifacts
        notebook = [item.path for item in client.list_artifacts(run.info.run_id, "notebook")]
        assert len(notebook) == 1 and notebook[0].endswith(".ipynb")
    assert len(list((tmp_path / "output" / "smol-test").glob("*.ipynb"))) == 2
