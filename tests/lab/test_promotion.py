"""`promote` against a real MLflow server and Kafka broker: a pass moves the alias and announces it; a fail changes
nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr_pipeline.contracts.decision import parse_control_message
from sdr_pipeline.contracts.topics import ROUTER_CONTROL
from sdr_pipeline.evals.datasets import load_dataset
from sdr_pipeline.evals.gate import GateConfig
from sdr_pipeline.evals.promotion import PROMOTION_EXPERIMENT, PromotionRequest, promote
from sdr_pipeline.evals.prompt_registry import PRODUCTION_ALIAS, PromptRegistry
from sdr_pipeline.evals.tracking import mlflow_client
from sdr_pipeline.infra.bus import KafkaBus
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.router import list_prompts
from sdr_pipeline.settings import Settings

pytestmark = [pytest.mark.mlflow, pytest.mark.kafka]

GATE = GateConfig(alpha=0.05, recall_floor=0.5, max_invalid_rate=0.0, max_cost_per_1k_usd=1.0)


def _answers(agents: list[str]) -> list[dict]:
    return [{"agent": agent, "confidence": 0.9, "reason": "scripted"} for agent in agents]


def _announcements(settings: Settings, prompt: str) -> list[str]:
    bus = KafkaBus(settings.bootstrap_servers)
    try:
        records = bus.read([ROUTER_CONTROL], idle_timeout_s=3.0)
    finally:
        bus.close()
    return [parse_control_message(record.value).version for record in records if record.key == prompt]


@pytest.fixture
def lab(mlflow_server: Settings, kafka: Settings, private_prompts: tuple[Path, str]) -> tuple[Settings, str]:
    """MLflow + Kafka settings with a private prompt registered, v1 in production, and a scripted 'model'."""
    prompts_dir, name = private_prompts
    settings = mlflow_server.model_copy(update={
        "kafka_port": kafka.kafka_port, "prompts_dir": prompts_dir, "llm_model": "scripted", "router_policy": "llm",
    })
    registry = PromptRegistry(settings.tracking_uri)
    registry.sync(list_prompts(name, prompts_dir=prompts_dir))
    registry.set_alias(name, PRODUCTION_ALIAS, 1)
    return settings, name


def test_pass_sets_the_alias_and_announces_it_then_a_regression_is_refused(lab: tuple[Settings, str],
                                                                           tiny_dataset: Path) -> None:
    settings, name = lab
    truth = [example.expected_agent for example in load_dataset(tiny_dataset, split="test")]
    registry = PromptRegistry(settings.tracking_uri)

    # candidate v3 answers every example right, production v1 answers `none` throughout
    llm = ScriptedLLM(_answers(truth) + _answers(["none"] * len(truth)))
    outcome = promote(PromotionRequest(prompt=name, version="v3", dataset=tiny_dataset), settings, gate=GATE, llm=llm)
    assert llm.remaining == 0
    assert outcome.verdict.passed and outcome.promoted and not outcome.forced
    assert outcome.candidate.result.metrics.accuracy == 1.0
    assert outcome.production is not None and outcome.production.registered.file_version == "v1"
    assert registry.by_alias(name, PRODUCTION_ALIAS).file_version == "v3"
    assert _announcements(settings, name) == ["v3"]

    client = mlflow_client(settings.tracking_uri)
    decision = client.get_run(outcome.decision_run_id)
    assert decision.data.tags["promoted"] == "true" and decision.data.tags["gate.passed"] == "true"
    assert decision.data.tags["evidence.candidate_run_id"] == outcome.candidate.run_id
    assert decision.data.tags["evidence.production_run_id"] == outcome.production.run_id
    assert {item.path for item in client.list_artifacts(outcome.decision_run_id)} >= {"gate.json", "promotion.png"}
    assert decision.info.experiment_id == client.get_experiment_by_name(PROMOTION_EXPERIMENT).experiment_id

    # candidate v2 answers `none` throughout: a significant regression against v3, whose run is reused
    llm = ScriptedLLM(_answers(["none"] * len(truth)))
    refused = promote(PromotionRequest(prompt=name, version="v2", dataset=tiny_dataset), settings, gate=GATE, llm=llm)
    assert llm.remaining == 0
    assert refused.production is not None and refused.production.reused
    assert refused.production.run_id == outcome.candidate.run_id
    assert not refused.promoted
    assert {check.name for check in refused.verdict.failed} >= {"no_regression", "recall_floor"}
    regression = next(check for check in refused.verdict.checks if check.name == "no_regression")
    assert regression.figures["production_only_right"] == len(truth) - truth.count("none")
    assert registry.by_alias(name, PRODUCTION_ALIAS).file_version == "v3"
    assert _announcements(settings, name) == ["v3"]
    assert client.get_run(refused.decision_run_id).data.tags["promoted"] == "false"


def test_force_promotes_past_a_failing_gate_and_says_so(lab: tuple[Settings, str], tiny_dataset: Path) -> None:
    settings, name = lab
    n = len(load_dataset(tiny_dataset, split="test"))
    llm = ScriptedLLM(_answers(["none"] * n) * 2)  # candidate and production both answer `none`: recall floor fails
    outcome = promote(PromotionRequest(prompt=name, version="v2", dataset=tiny_dataset, force=True), settings,
                      gate=GATE, llm=llm)
    assert not outcome.verdict.passed and outcome.promoted and outcome.forced
    assert PromptRegistry(settings.tracking_uri).by_alias(name, PRODUCTION_ALIAS).file_version == "v2"
    assert _announcements(settings, name) == ["v2"]
    tags = mlflow_client(settings.tracking_uri).get_run(outcome.decision_run_id).data.tags
    assert tags["gate.forced"] == "true" and tags["gate.passed"] == "false"


def test_the_second_floor_evaluates_the_candidate_on_its_own_dataset(lab: tuple[Settings, str], tiny_dataset: Path,
                                                                     tmp_path: Path) -> None:
    from sdr_pipeline.evals.datasets import write_dataset
    from sdr_pipeline.evals.gate import SecondFloor

    settings, name = lab
    # files of their own (new sha256), so no evaluation run of another test in this MLflow is reused
    examples = load_dataset(tiny_dataset, split="test")[::-1]
    field, clear = tmp_path / "field.jsonl", tmp_path / "clear.jsonl"
    write_dataset(examples, field)
    write_dataset(examples[:6], clear)
    truth = [example.expected_agent for example in examples]
    gate = GATE.model_copy(update={"second_floor": SecondFloor(dataset=clear, min_accuracy=0.9)})
    # candidate right on the field examples, production `none` throughout; on the second dataset the candidate
    # answers `none` throughout: two of its 6 right, under the floor, so a candidate better on the field set is refused
    llm = ScriptedLLM(_answers(truth) + _answers(["none"] * len(truth)) + _answers(["none"] * 6))
    outcome = promote(PromotionRequest(prompt=name, version="v3", dataset=field), settings, gate=gate, llm=llm)
    assert llm.remaining == 0
    assert outcome.second_floor is not None and outcome.second_floor.result.metrics.n == 6
    assert [check.name for check in outcome.verdict.failed] == ["second_floor"] and not outcome.promoted
    decision = mlflow_client(settings.tracking_uri).get_run(outcome.decision_run_id)
    assert decision.data.tags["evidence.second_floor_run_id"] == outcome.second_floor.run_id
    assert decision.data.metrics["second_floor_accuracy"] == pytest.approx(outcome.second_floor.result.metrics.accuracy)
