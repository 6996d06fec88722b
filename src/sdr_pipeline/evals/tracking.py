"""Evaluation runs in MLflow: write one run per evaluation, read them back as a leaderboard or as evidence.

A run holds the params of `EvalRun.params()` (dataset sha256 and prompt hash included),
every scalar of `EvalMetrics.flat()` (per-class ones as `recall_<label>`,
`precision_<label>`), and the artifacts `predictions.csv`, `confusion_matrix.png`,
`record.json` and, when the evaluation ran as a papermill notebook, the executed
notebook under `notebook/`. Saved predictions are enough to re-score a run, which is how
the promotion gate reuses evidence instead of calling the model again.

Everything goes through an explicit `MlflowClient(tracking_uri)`: no global tracking URI.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sdr_pipeline.evals.figures import confusion_figure, save_png
from sdr_pipeline.evals.runner import EvalResult, Prediction, compute_metrics
from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.infra.process import http_ok

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from sdr_pipeline.evals.experiment import EvalRun

__all__ = [
    "EXPERIMENT",
    "PREDICTIONS_ARTIFACT",
    "StoredEval",
    "attach_notebook",
    "experiment_id",
    "find_eval_runs",
    "leaderboard",
    "load_stored_eval",
    "log_eval_run",
    "mlflow_client",
]

logger = logging.getLogger(__name__)

EXPERIMENT = "routing-evals"
"""Default MLflow experiment of evaluation runs."""
PREDICTIONS_ARTIFACT = "predictions.csv"
CONFUSION_ARTIFACT = "confusion_matrix.png"
RECORD_ARTIFACT = "record.json"
NOTEBOOK_ARTIFACT_DIR = "notebook"
KIND_TAG = "sdr.kind"
"""Tag telling evaluation runs (`eval`) from promotion decisions (`promotion`)."""
SWEEP_TAG = "sdr.sweep"


_HEALTH_TIMEOUT_S = 5.0


def mlflow_client(tracking_uri: str) -> MlflowClient:
    """A client bound to `tracking_uri`, after a quick health check of an HTTP server.

    MLflow's own retries take minutes to give up on a server that is down; one GET of
    /health says so at once. mlflow itself is imported here, not at package import.
    """
    if tracking_uri.startswith(("http://", "https://")):
        if not http_ok(f"{tracking_uri.rstrip('/')}/health", timeout_s=_HEALTH_TIMEOUT_S):
            raise InfraError("mlflow", f"tracking server {tracking_uri} does not answer",
                             fix="start it with `sdr-pipeline infra up` or set SDR_MLFLOW_TRACKING_URI")
    try:
        from mlflow import MlflowClient
    except ImportError as error:  # pragma: no cover - mlflow is a hard dependency of the lock
        raise UserError("mlflow is not installed", fix="install the project's locked requirements") from error
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created if missing (safe when parallel sweep points race)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def log_eval_run(run: EvalRun, *, tracking_uri: str, experiment: str = EXPERIMENT, run_name: str | None = None,
                 sweep: str | None = None, tags: Mapping[str, str] | None = None) -> str:
    """Record one evaluation as a finished MLflow run (tagged with its sweep, if any); returns the run id."""
    from mlflow.entities import Metric, Param, RunTag

    client = mlflow_client(tracking_uri)
    result = run.result
    name = run_name or f"{result.prompt_version}-{run.spec.policy}-{run.spec.model}-{run.spec.dataset.stem}"
    all_tags = {KIND_TAG: "eval", **({SWEEP_TAG: sweep} if sweep else {}), **(tags or {})}
    created = client.create_run(experiment_id(client, experiment), run_name=name, tags=all_tags)
    run_id = created.info.run_id
    try:
        timestamp = created.info.start_time
        metrics = [Metric(key, value, timestamp, 0) for key, value in result.metrics.flat().items()]
        metrics.append(Metric("wall_s", result.wall_s, timestamp, 0))
        params = [Param(key, value) for key, value in run.params().items()]
        client.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag(k, v) for k, v in all_tags.items()])
        with tempfile.TemporaryDirectory(prefix="sdr-eval-") as folder:
            root = Path(folder)
            result.to_frame().to_csv(root / PREDICTIONS_ARTIFACT, index=False)
            save_png(confusion_figure(result), root / CONFUSION_ARTIFACT)
            (root / RECORD_ARTIFACT).write_text(json.dumps(run.record(run_id), indent=2, sort_keys=True))
            client.log_artifacts(run_id, str(root))
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    logger.info("logged eval run %s (%s) to %s experiment=%s", run_id, name, tracking_uri, experiment)
    return run_id


def attach_notebook(run_id: str, notebook: Path | str, *, tracking_uri: str) -> None:
    """Add an executed notebook to a run (papermill writes it only after the run was logged)."""
    mlflow_client(tracking_uri).log_artifact(run_id, str(notebook), artifact_path=NOTEBOOK_ARTIFACT_DIR)


def find_eval_runs(tracking_uri: str, *, experiment: str = EXPERIMENT, params: Mapping[str, str] | None = None,
                   tags: Mapping[str, str] | None = None, max_results: int = 1000) -> list[Run]:
    """Finished evaluation runs whose params and tags equal the given ones, newest first."""
    client = mlflow_client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    clauses = [f"tags.`{KIND_TAG}` = 'eval'", "attributes.status = 'FINISHED'"]
    clauses += [f"params.`{key}` = '{value}'" for key, value in (params or {}).items()]
    clauses += [f"tags.`{key}` = '{value}'" for key, value in (tags or {}).items()]
    return list(client.search_runs([found.experiment_id], filter_string=" and ".join(clauses),
                                   max_results=max_results, order_by=["attributes.start_time DESC"]))


@dataclass(frozen=True)
class StoredEval:
    """An evaluation read back from MLflow: its run id, params and re-scored result."""

    run_id: str
    params: dict[str, str]
    result: EvalResult


def _predictions_from_csv(path: Path) -> tuple[Prediction, ...]:
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    predictions = []
    for row in frame.to_dict("records"):
        predictions.append(Prediction(
            example_id=row["example_id"], expected=row["expected"], predicted=row["predicted"],
            valid=row["valid"] == "True", latency_s=float(row["latency_s"]),
            prompt_tokens=int(row["prompt_tokens"]), completion_tokens=int(row["completion_tokens"]),
            cost_usd=float(row["cost_usd"]), cached=row["cached"] == "True", llm_calls=int(row["llm_calls"]),
            confidence=float(row["confidence"]) if row["confidence"] else None, reason=row["reason"],
            tags=tuple(json.loads(row["tags"])) if row["tags"].startswith("[") else tuple(row["tags"].split()),
            decided_by=row.get("decided_by", ""), off_contract=row.get("off_contract") == "True",
            needs_review=row.get("needs_review") == "True",
        ))
    return tuple(predictions)


def load_stored_eval(run_id: str, *, tracking_uri: str) -> StoredEval:
    """Download a run's predictions and re-score them (the metrics are recomputed, not trusted)."""
    client = mlflow_client(tracking_uri)
    run = client.get_run(run_id)
    with tempfile.TemporaryDirectory(prefix="sdr-eval-") as folder:
        path = Path(client.download_artifacts(run_id, PREDICTIONS_ARTIFACT, folder))
        predictions = _predictions_from_csv(path)
    params = dict(run.data.params)
    metrics = run.data.metrics
    result = EvalResult(
        predictions=predictions, metrics=compute_metrics(predictions), prompt_name=params.get("prompt_name", ""),
        prompt_version=params.get("prompt_version", ""), prompt_hash=params.get("prompt_hash", ""),
        policy=params.get("policy", ""), model=params.get("reported_model") or params.get("model"),
        concurrency=int(params.get("concurrency", "1")), wall_s=float(metrics.get("wall_s", 0.0)),
    )
    return StoredEval(run_id=run_id, params=params, result=result)


_BOARD_METRICS = ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1", "invalid_rate", "latency_p50_s",
                  "latency_p95_s", "model_latency_p50_s", "model_latency_p95_s",
                  "completion_tokens_per_model_decision", "off_contract_rate", "review_rate", "calibration_error",
                  "precision_none", "tokens_per_message", "cost_per_1k_messages", "llm_call_rate", "cached_rate",
                  "wall_s", "n")
_BOARD_PARAMS = ("prompt_name", "prompt_version", "policy", "model", "provider", "dataset_name", "dataset_sha256",
                 "split", "limit", "seed", "prompt_hash")


def leaderboard(tracking_uri: str, *, experiment: str = EXPERIMENT, sweep: str | None = None,
                latest_only: bool = True) -> pd.DataFrame:
    """One row per evaluation run (best accuracy first), with params, headline metrics and `recall_*` columns.

    `sweep` keeps the runs of one sweep; `latest_only` keeps the newest run per
    (prompt version, policy, model, dataset sha256, split, limit, seed).
    """
    runs = find_eval_runs(tracking_uri, experiment=experiment, tags={SWEEP_TAG: sweep} if sweep else None)
    rows = []
    for run in runs:
        params, metrics = run.data.params, run.data.metrics
        row: dict[str, Any] = {"run_id": run.info.run_id, "run_name": run.info.run_name,
                               "sweep": run.data.tags.get(SWEEP_TAG, ""),
                               "started": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC")}
        row.update({key: params.get(key, "") for key in _BOARD_PARAMS})
        row.update({key: metrics.get(key, float("nan")) for key in _BOARD_METRICS})
        row.update({key: value for key, value in metrics.items() if key.startswith("recall_")})
        rows.append(row)
    columns = ["run_id", "run_name", "sweep", "started", *_BOARD_PARAMS, *_BOARD_METRICS]
    board = pd.DataFrame(rows)
    if board.empty:
        return pd.DataFrame(columns=[*columns, "model_short"])
    recall_columns = sorted(column for column in board.columns if column.startswith("recall_"))
    board = board[[*columns, *recall_columns]]
    if latest_only:
        key = ["prompt_name", "prompt_version", "policy", "model", "dataset_sha256", "split", "limit", "seed"]
        board = board.sort_values("started", ascending=False).drop_duplicates(key)
    board["model_short"] = board["model"].str.split("-").str[0]
    return board.sort_values(["accuracy", "macro_f1"], ascending=False).reset_index(drop=True)
