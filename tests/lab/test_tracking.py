"""Evaluation runs in a real MLflow server: params, every metric, artifacts, and a faithful read-back."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr_pipeline.evals.experiment import EvalSpec, run_spec, scripted_llm
from sdr_pipeline.evals.tracking import find_eval_runs, leaderboard, load_stored_eval, log_eval_run, mlflow_client
from sdr_pipeline.exceptions import InfraError
from sdr_pipeline.settings import Settings

pytestmark = pytest.mark.mlflow

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPECTED_METRICS = {"accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1", "invalid_rate", "latency_p50_s",
                    "latency_p95_s", "prompt_tokens", "completion_tokens", "total_tokens", "tokens_per_message",
                    "cost_usd", "cost_per_1k_messages", "wall_s"}
EXPECTED_PARAMS = {"prompt_name", "prompt_version", "prompt_hash", "provider", "model", "policy", "dataset",
                   "dataset_sha256", "split", "limit", "seed", "concurrency"}


def test_a_run_holds_params_metrics_and_artifacts(mlflow_server: Settings, tiny_dataset: Path) -> None:
    settings = mlflow_server.model_copy(update={"prompts_dir": REPO_ROOT / "prompts"})
    spec = EvalSpec(dataset=tiny_dataset, split="test", version="v3", policy="llm", provider="local", model="scripted",
                    concurrency=2)
    run = run_spec(spec, settings, llm=scripted_llm())
    run_id = log_eval_run(run, tracking_uri=settings.tracking_uri, experiment="tracking-test", sweep="t1")

    client = mlflow_client(settings.tracking_uri)
    stored = client.get_run(run_id)
    assert stored.info.status == "FINISHED"
    assert EXPECTED_PARAMS <= set(stored.data.params)
    assert stored.data.params["prompt_hash"] == run.prompt.hash and stored.data.params["limit"] == "all"
    assert EXPECTED_METRICS <= set(stored.data.metrics)
    labels = {"lead_ingestion", "lead_scoring", "active_outreach", "nurture_campaign", "send_email", "none"}
    assert {f"recall_{label}" for label in labels} <= set(stored.data.metrics)
    assert {f"precision_{label}" for label in labels} <= set(stored.data.metrics)
    assert stored.data.metrics["accuracy"] == pytest.approx(2 / 12)  # only the two `none` examples are right
    assert stored.data.tags["sdr.sweep"] == "t1" and stored.data.tags["sdr.kind"] == "eval"
    artifacts = {item.path for item in client.list_artifacts(run_id)}
    assert {"predictions.csv", "confusion_matrix.png", "record.json"} <= artifacts

    again = load_stored_eval(run_id, tracking_uri=settings.tracking_uri)
    assert again.result.predictions == run.result.predictions
    assert again.result.metrics == run.result.metrics

    found = find_eval_runs(settings.tracking_uri, experiment="tracking-test",
                           params={"dataset_sha256": run.dataset_sha256, "prompt_hash": run.prompt.hash})
    assert [item.info.run_id for item in found] == [run_id]
    board = leaderboard(settings.tracking_uri, experiment="tracking-test")
    assert board.loc[0, "run_id"] == run_id and board.loc[0, "recall_none"] == 1.0


def test_a_dead_server_fails_fast_with_the_fix() -> None:
    with pytest.raises(InfraError, match="infra up"):
        mlflow_client("http://127.0.0.1:1")
