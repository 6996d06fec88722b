"""The promotion gate: may a candidate prompt version replace the one in production?

A pure function of two sets of predictions on the same examples and the gate values
(`evals/gate.yaml`), so it is tested on hand-made predictions. Four checks, all must pass,
and a fifth when the gate names a second floor:

- `no_regression`: paired McNemar test on per-example correctness; fails when production
  wins more discordant pairs *and* p < alpha (a significant regression). Without a
  production version there is nothing to regress from and the check passes.
- `recall_floor`: every label present in the test split reaches its recall floor.
- `invalid_ceiling`: the share of examples without a valid decision stays below a ceiling.
- `cost_ceiling`: cost per 1,000 messages stays below an absolute ceiling and, when
  production costs anything, below `max_cost_ratio` times production's cost.
- `second_floor`: the candidate's accuracy on a second dataset (the generated test split:
  the clear cases a prompt tuned to hard traffic must not forget) reaches `min_accuracy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sdr_pipeline.evals.metrics import mcnemar
from sdr_pipeline.evals.runner import Prediction, compute_metrics
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.yaml_files import load_yaml_model

__all__ = ["GateCheck", "GateConfig", "GateVerdict", "SecondFloor", "check_promotion", "load_gate_config"]


class SecondFloor(BaseModel):
    """A second dataset the candidate alone is evaluated on, and the accuracy it must reach there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Path
    split: str = "test"
    limit: int | None = Field(None, gt=0)
    """A seeded sample of the split (seed 0); None: all of it."""
    min_accuracy: float = Field(ge=0, le=1)


class GateConfig(BaseModel):
    """The gate values; see evals/gate.yaml for the chosen ones and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(0.05, gt=0, lt=1)
    """Significance level of the McNemar test for a regression."""
    recall_floor: float = Field(0.5, ge=0, le=1)
    """Minimum recall of every label present in the test split."""
    recall_floors: dict[str, float] = Field(default_factory=dict)
    """Per-label overrides of `recall_floor`."""
    max_invalid_rate: float = Field(0.02, ge=0, le=1)
    """Largest share of examples without a valid decision."""
    max_cost_per_1k_usd: float = Field(5.0, ge=0)
    """Largest cost per 1,000 routed messages, in US dollars."""
    max_cost_ratio: float | None = Field(1.5, gt=0)
    """Largest candidate/production cost ratio (ignored when production costs nothing; None: no limit)."""
    second_floor: SecondFloor | None = None
    """Accuracy the candidate must reach on a second dataset (None: no such check)."""

    def floor_for(self, label: str) -> float:
        return self.recall_floors.get(label, self.recall_floor)


def load_gate_config(path: Path | str) -> GateConfig:
    """Read and validate the gate values file."""
    return load_yaml_model(GateConfig, path, what="gate", fix="pass --gate evals/gate.yaml", empty_ok=True)


@dataclass(frozen=True)
class GateCheck:
    """One check's verdict and the figures behind it."""

    name: str
    passed: bool
    detail: str
    """One sentence with the figures, for the terminal."""
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateVerdict:
    """All checks; `passed` only if every one passed."""

    checks: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> tuple[GateCheck, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed,
                "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail, "figures": c.figures}
                           for c in self.checks]}


def _paired(candidate: Sequence[Prediction], production: Sequence[Prediction]) -> list[tuple[Prediction, Prediction]]:
    """Candidate and production predictions of the same examples, in candidate order."""
    by_id = {prediction.example_id: prediction for prediction in production}
    if set(by_id) != {prediction.example_id for prediction in candidate}:
        missing = len({p.example_id for p in candidate} ^ set(by_id))
        raise UserError(f"candidate and production were evaluated on different examples ({missing} differ)",
                        fix="evaluate both on the same dataset file, split, limit and seed")
    return [(prediction, by_id[prediction.example_id]) for prediction in candidate]


def _regression_check(candidate: Sequence[Prediction], production: Sequence[Prediction] | None,
                      config: GateConfig) -> GateCheck:
    if production is None:
        return GateCheck("no_regression", True, "no production version yet: nothing to regress from")
    pairs = _paired(candidate, production)
    truth = [cand.expected for cand, _ in pairs]
    result = mcnemar(truth, [prod.predicted for _, prod in pairs], [cand.predicted for cand, _ in pairs])
    n = len(pairs)
    cand_acc = sum(cand.correct for cand, _ in pairs) / n
    prod_acc = sum(prod.correct for _, prod in pairs) / n
    regression = result.b > result.c and result.p_value < config.alpha
    figures = {"candidate_accuracy": cand_acc, "production_accuracy": prod_acc, "n": n,
               "production_only_right": result.b, "candidate_only_right": result.c,
               "p_value": result.p_value, "exact": result.exact, "alpha": config.alpha}
    detail = (f"accuracy {cand_acc:.3f} vs production {prod_acc:.3f} on {n} paired examples; "
              f"production alone right on {result.b}, candidate alone right on {result.c}; "
              f"McNemar p = {result.p_value:.4f} ({'exact' if result.exact else 'chi-square'}), alpha {config.alpha}")
    if regression:
        detail = "significant regression: " + detail
    return GateCheck("no_regression", not regression, detail, figures)


def check_promotion(candidate: Sequence[Prediction], production: Sequence[Prediction] | None,
                    config: GateConfig, *, second_floor: Sequence[Prediction] | None = None) -> GateVerdict:
    """Judge a candidate against production (None when nothing is in production yet); `second_floor` is the
    candidate's predictions on the gate's second dataset, required when the gate names one."""
    metrics = compute_metrics(candidate)
    production_metrics = compute_metrics(production) if production else None
    checks = [_regression_check(candidate, production, config)]

    below = {label: recall for label, recall in metrics.recall.items() if recall < config.floor_for(label)}
    floors = {label: config.floor_for(label) for label in metrics.recall}
    shown = ", ".join(f"{label} {recall:.2f} < {floors[label]:.2f}" for label, recall in below.items())
    checks.append(GateCheck(
        "recall_floor", not below,
        f"recall below its floor: {shown}" if below else
        f"every label at or above its floor (lowest: {min(metrics.recall.values()):.2f})",
        {"recall": metrics.recall, "floors": floors, "support": metrics.support},
    ))

    checks.append(GateCheck(
        "invalid_ceiling", metrics.invalid_rate <= config.max_invalid_rate,
        f"invalid-output rate {metrics.invalid_rate:.3f} (ceiling {config.max_invalid_rate:.3f})",
        {"invalid_rate": metrics.invalid_rate, "max_invalid_rate": config.max_invalid_rate},
    ))

    cost = metrics.cost_per_1k_messages
    production_cost = production_metrics.cost_per_1k_messages if production_metrics else 0.0
    ratio = cost / production_cost if production_cost > 0 else None
    too_costly = cost > config.max_cost_per_1k_usd
    too_much_more = ratio is not None and config.max_cost_ratio is not None and ratio > config.max_cost_ratio
    ratio_text = f", {ratio:.2f}x production (limit {config.max_cost_ratio}x)" if ratio is not None else ""
    checks.append(GateCheck(
        "cost_ceiling", not (too_costly or too_much_more),
        f"US$ {cost:.4f} per 1,000 messages (ceiling {config.max_cost_per_1k_usd:.4f}){ratio_text}",
        {"cost_per_1k_messages": cost, "production_cost_per_1k_messages": production_cost,
         "max_cost_per_1k_usd": config.max_cost_per_1k_usd, "cost_ratio": ratio,
         "max_cost_ratio": config.max_cost_ratio},
    ))
    if config.second_floor is not None:
        if not second_floor:
            raise UserError(f"the gate's second floor needs the candidate's predictions on "
                            f"{config.second_floor.dataset} ({config.second_floor.split})",
                            fix="evaluate the candidate on it (sdr-pipeline prompts promote does)")
        floor = compute_metrics(second_floor)
        low = floor.accuracy < config.second_floor.min_accuracy
        checks.append(GateCheck(
            "second_floor", not low,
            f"accuracy {floor.accuracy:.3f} on {floor.n} examples of {config.second_floor.dataset} "
            f"({config.second_floor.split}); floor {config.second_floor.min_accuracy:.3f}",
            {"accuracy": floor.accuracy, "n": floor.n, "min_accuracy": config.second_floor.min_accuracy},
        ))
    return GateVerdict(tuple(checks))
