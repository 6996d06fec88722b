"""Every lab notebook runs through papermill with small parameters and a scripted model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sdr_pipeline.contracts.decision import RoutingDecision
from sdr_pipeline.contracts.topics import ROUTING_DECISIONS, WORKFLOW_EVENTS
from sdr_pipeline.contracts.workflow import WorkflowEvent
from sdr_pipeline.evals.tracking import find_eval_runs
from sdr_pipeline.infra.bus import KafkaBus
from sdr_pipeline.settings import Settings

Runner = Callable[..., dict[str, Any]]


def test_route_eval_runs_scripted_without_tracking(notebooks: dict[str, Path], run_notebook: Runner) -> None:
    record = run_notebook(notebooks["route_eval"], scripted=True, limit=5, track=False, version="v1", policy="llm")
    assert record["run_id"] is None
    assert record["n"] == 5 and record["version"] == "v1" and record["policy"] == "llm"
    assert record["params"]["limit"] == "5" and len(record["params"]["dataset_sha256"]) == 64
    # the scripted client always answers `none`: accuracy is the share of `none` labels in the sample
    assert 0.0 <= record["metrics"]["accuracy"] <= 1.0
    assert record["metrics"]["invalid_rate"] == 0.0


@pytest.mark.mlflow
def test_route_eval_logs_a_run(notebooks: dict[str, Path], run_notebook: Runner, mlflow_server: Settings) -> None:
    record = run_notebook(notebooks["route_eval"], scripted=True, limit=5, version="v2", policy="contract",
                          tracking_uri=mlflow_server.tracking_uri, experiment="notebook-test", sweep="nb")
    runs = find_eval_runs(mlflow_server.tracking_uri, experiment="notebook-test", tags={"sdr.sweep": "nb"})
    assert [run.info.run_id for run in runs] == [record["run_id"]]
    assert runs[0].data.metrics["accuracy"] == pytest.approx(record["metrics"]["accuracy"])


@pytest.mark.mlflow
def test_compare_reads_the_runs(notebooks: dict[str, Path], run_notebook: Runner, mlflow_server: Settings) -> None:
    run_ids = {run_notebook(notebooks["route_eval"], scripted=True, limit=4, version=version, policy="llm",
                            tracking_uri=mlflow_server.tracking_uri, experiment="compare-test")["run_id"]
               for version in ("v1", "v3")}
    record = run_notebook(notebooks["compare"], tracking_uri=mlflow_server.tracking_uri, experiment="compare-test")
    assert record["runs"] == 2 and set(record["run_ids"]) == run_ids


def test_playground_routes_one_message(notebooks: dict[str, Path], run_notebook: Runner) -> None:
    record = run_notebook(notebooks["playground"], scripted=True, example_id="hard-001", policy="llm")
    assert record["example_id"] == "hard-001"
    assert record["agent"] == "none" and record["calls"] == 1 and record["prompt_messages"] >= 2


def test_journeys_fall_back_to_a_sample(notebooks: dict[str, Path], run_notebook: Runner) -> None:
    record = run_notebook(notebooks["journeys"], bootstrap_servers="127.0.0.1:1", sample_leads=4)
    assert record["source"].startswith("sample built from")
    assert record["leads"] == 4 and record["decisions"] >= 4 * 5


@pytest.mark.kafka
def test_journeys_read_the_topics(notebooks: dict[str, Path], run_notebook: Runner, kafka: Settings) -> None:
    bus = KafkaBus(kafka.bootstrap_servers)
    try:
        for hop, agent in enumerate(["lead_ingestion", "lead_scoring", "none"]):
            bus.publish(ROUTING_DECISIONS, RoutingDecision(
                message_id=f"journey-m{hop}", lead_id="journey-lead", hop=hop, agent=agent, confidence=1.0,
                reason="test", policy="contract", prompt_name="router", prompt_version="v3", prompt_hash="h",
                candidates=[agent], llm_called=False, latency_s=0.0))
        bus.publish(WORKFLOW_EVENTS, WorkflowEvent(kind="ended", lead_id="journey-lead", reason="routed to none"))
    finally:
        bus.close()
    record = run_notebook(notebooks["journeys"], source="kafka", bootstrap_servers=kafka.bootstrap_servers)
    assert record["source"] == f"kafka {kafka.bootstrap_servers}"
    assert record["decisions"] >= 3 and record["events"] >= 1
