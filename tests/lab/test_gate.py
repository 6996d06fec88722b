"""The promotion gate on hand-made predictions: each check passes and fails for the reason it should."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr_pipeline.evals.gate import GateConfig, check_promotion, load_gate_config
from sdr_pipeline.evals.runner import INVALID, Prediction
from sdr_pipeline.exceptions import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
LABELS = ("lead_ingestion", "lead_scoring", "active_outreach", "nurture_campaign", "send_email", "none")
GATE = GateConfig(alpha=0.05, recall_floor=0.5, max_invalid_rate=0.05, max_cost_per_1k_usd=1.0, max_cost_ratio=1.5)


def _truth(n: int = 60) -> list[str]:
    """n expected labels, cycling through every label (10 of each for n=60)."""
    return [LABELS[index % len(LABELS)] for index in range(n)]


def _predictions(truth: list[str], predicted: list[str], *, cost: float = 0.0) -> list[Prediction]:
    return [Prediction(example_id=f"ex-{index:03d}", expected=expected, predicted=guess, valid=guess != INVALID,
                       latency_s=0.5, prompt_tokens=300, completion_tokens=20, cost_usd=cost, cached=False, llm_calls=1)
            for index, (expected, guess) in enumerate(zip(truth, predicted, strict=True))]


def _wrong(label: str) -> str:
    return "none" if label != "none" else "send_email"


def _with_errors(truth: list[str], wrong_at: set[int]) -> list[str]:
    return [_wrong(label) if index in wrong_at else label for index, label in enumerate(truth)]


def _check(verdict, name: str):
    return next(check for check in verdict.checks if check.name == name)


def test_a_better_candidate_passes_every_check() -> None:
    truth = _truth()
    production = _predictions(truth, _with_errors(truth, set(range(0, 60, 4))))  # 15 wrong
    candidate = _predictions(truth, _with_errors(truth, {0, 8}))  # 2 wrong, both also wrong in production
    verdict = check_promotion(candidate, production, GATE)
    assert verdict.passed, verdict.to_dict()
    regression = _check(verdict, "no_regression")
    assert regression.figures["production_only_right"] == 0
    assert regression.figures["candidate_only_right"] == 13
    assert regression.figures["candidate_accuracy"] == pytest.approx(58 / 60)


def test_a_significant_regression_fails_with_its_figures() -> None:
    truth = _truth()
    production = _predictions(truth, truth)  # perfect
    candidate = _predictions(truth, _with_errors(truth, set(range(0, 60, 6))))  # 10 wrong, all `lead_ingestion`
    verdict = check_promotion(candidate, production, GATE)
    assert not verdict.passed
    regression = _check(verdict, "no_regression")
    assert not regression.passed
    # b = 10 discordant pairs all won by production, c = 0: exact two-sided p = 2 * 0.5**10
    assert regression.figures["production_only_right"] == 10 and regression.figures["candidate_only_right"] == 0
    assert regression.figures["p_value"] == pytest.approx(2 * 0.5**10)
    assert "significant regression" in regression.detail
    # the same 10 errors wipe out lead_ingestion's recall
    floor = _check(verdict, "recall_floor")
    assert not floor.passed and floor.figures["recall"]["lead_ingestion"] == 0.0
    assert "lead_ingestion 0.00 < 0.50" in floor.detail


def test_a_small_insignificant_drop_passes() -> None:
    truth = _truth()
    production = _predictions(truth, _with_errors(truth, {1, 2}))
    candidate = _predictions(truth, _with_errors(truth, {3, 4, 5, 7}))  # 4 production-only-right, 2 candidate-only
    regression = _check(check_promotion(candidate, production, GATE), "no_regression")
    assert regression.passed
    assert (regression.figures["production_only_right"], regression.figures["candidate_only_right"]) == (4, 2)
    assert regression.figures["p_value"] == pytest.approx(0.6875)  # exact binomial, 2 * P(X <= 2 | 6, 0.5)


def test_recall_floor_per_label_override() -> None:
    truth = _truth()
    # nurture_campaign (index 3 mod 6) gets 4 of 10 wrong: recall 0.6
    candidate = _predictions(truth, _with_errors(truth, {3, 9, 15, 21}))
    assert _check(check_promotion(candidate, None, GATE), "recall_floor").passed
    strict = GATE.model_copy(update={"recall_floors": {"nurture_campaign": 0.7}})
    floor = _check(check_promotion(candidate, None, strict), "recall_floor")
    assert not floor.passed and floor.figures["floors"]["nurture_campaign"] == 0.7
    assert floor.figures["recall"]["nurture_campaign"] == pytest.approx(0.6)


def test_invalid_output_ceiling() -> None:
    truth = _truth()
    predicted = [INVALID if index in {0, 1, 2, 3} else label for index, label in enumerate(truth)]  # 4/60 = 0.067
    verdict = check_promotion(_predictions(truth, predicted), None, GATE)
    invalid = _check(verdict, "invalid_ceiling")
    assert not invalid.passed and invalid.figures["invalid_rate"] == pytest.approx(4 / 60)
    assert [check.name for check in verdict.failed] == ["invalid_ceiling"]


def test_cost_ceiling_absolute_and_relative() -> None:
    truth = _truth()
    costly = _predictions(truth, truth, cost=0.002)  # US$ 2 per 1,000 > 1.0
    check = _check(check_promotion(costly, None, GATE), "cost_ceiling")
    assert not check.passed and check.figures["cost_per_1k_messages"] == pytest.approx(2.0)

    cheap_production = _predictions(truth, truth, cost=0.0004)  # 0.4 per 1,000
    pricier = _predictions(truth, truth, cost=0.0008)  # 0.8: under the ceiling but 2x production
    check = _check(check_promotion(pricier, cheap_production, GATE), "cost_ceiling")
    assert not check.passed and check.figures["cost_ratio"] == pytest.approx(2.0)
    # a free production version does not make every paid candidate infinitely expensive
    assert _check(check_promotion(pricier, _predictions(truth, truth), GATE), "cost_ceiling").passed


def test_without_production_only_the_absolute_checks_apply() -> None:
    truth = _truth()
    verdict = check_promotion(_predictions(truth, truth), None, GATE)
    assert verdict.passed
    assert "no production version yet" in _check(verdict, "no_regression").detail


def test_different_example_sets_are_refused() -> None:
    truth = _truth()
    candidate = _predictions(truth, truth)
    production = _predictions(truth[:-1], truth[:-1])
    with pytest.raises(UserError, match="different examples"):
        check_promotion(candidate, production, GATE)


def test_the_repo_gate_file_loads_and_bad_values_are_named(tmp_path: Path) -> None:
    config = load_gate_config(REPO_ROOT / "evals" / "gate.yaml")
    assert 0 < config.alpha < 1 and config.floor_for("none") >= config.recall_floor
    bad = tmp_path / "gate.yaml"
    bad.write_text("alpha: 2\n")
    with pytest.raises(UserError, match="alpha"):
        load_gate_config(bad)
    bad.write_text("recall_flor: 0.5\n")
    with pytest.raises(UserError, match="recall_flor"):
        load_gate_config(bad)


def test_the_second_floor_fails_below_its_accuracy_and_needs_its_predictions() -> None:
    from sdr_pipeline.evals.gate import SecondFloor

    gate = GATE.model_copy(update={"second_floor": SecondFloor(dataset=Path("g.jsonl"), min_accuracy=0.9)})
    truth = _truth()
    candidate = _predictions(truth, truth)
    clear = _predictions(truth, _with_errors(truth, set(range(0, 60, 8))))  # 8 of 60 wrong: 0.867
    floor = _check(check_promotion(candidate, None, gate, second_floor=clear), "second_floor")
    assert not floor.passed and floor.figures["accuracy"] == pytest.approx(52 / 60)
    assert _check(check_promotion(candidate, None, gate, second_floor=candidate), "second_floor").passed
    assert "second_floor" not in {check.name for check in check_promotion(candidate, None, GATE).checks}
    with pytest.raises(UserError, match="second floor"):
        check_promotion(candidate, None, gate)
