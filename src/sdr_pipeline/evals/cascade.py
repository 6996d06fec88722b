"""Choosing the cascade's thresholds in the lab, on dev data only.

The classifier is scored on examples it was not trained on: out-of-fold probabilities over the
example pool (stratified folds), so the thresholds reflect how sure it is about messages it has
not seen. `accept_at` is the lowest probability at which the classifier's own answers are right at
least `target_precision` of the time (it then answers alone); the reliability table and the
expected calibration error say how far its probabilities can be taken at face value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from sdr_pipeline.evals.metrics import expected_calibration_error, reliability_table
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.router import ExamplePool

__all__ = ["CascadeThresholds", "choose_thresholds", "out_of_fold"]

logger = logging.getLogger(__name__)

_CANDIDATES = tuple(round(value, 2) for value in np.arange(0.40, 0.96, 0.05))


@dataclass(frozen=True)
class CascadeThresholds:
    """What the lab chose, and the evidence."""

    accept_at: float
    """The classifier answers alone at or above this probability."""
    precision_at_accept: float
    """How often the classifier was right, out of fold, at or above `accept_at`."""
    coverage_at_accept: float
    """Share of dev messages the classifier would answer alone."""
    calibration_error: float
    """Expected calibration error of the out-of-fold top probabilities."""
    reliability: pd.DataFrame
    """Per confidence bin: n, mean confidence, accuracy (the reliability diagram's data)."""
    sweep: pd.DataFrame
    """Per candidate threshold: coverage and precision."""


def out_of_fold(pool: ExamplePool, *, folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """One row per pool example: its label, the top label of a classifier trained without it, and that probability."""
    labels = np.array([example.label for example in pool.examples])
    rows: list[dict[str, object]] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, held in splitter.split(np.zeros(len(labels)), labels):
        classifier = ExamplePool([pool.examples[i] for i in train]).classifier()
        for index in held:
            scores = classifier.probabilities(pool.examples[index].envelope)
            top = max(scores, key=scores.__getitem__)
            rows.append({"id": pool.examples[index].id, "label": labels[index], "predicted": top,
                         "probability": scores[top]})
    return pd.DataFrame(rows)


def choose_thresholds(pool: ExamplePool, *, target_precision: float = 0.97, folds: int = 5,
                      seed: int = 0) -> CascadeThresholds:
    """The lowest accept threshold whose out-of-fold precision reaches `target_precision`."""
    if not 0.5 <= target_precision < 1.0:
        raise UserError(f"target precision {target_precision} must be in [0.5, 1)", fix="use e.g. 0.97")
    frame = out_of_fold(pool, folds=folds, seed=seed)
    right = frame["label"] == frame["predicted"]
    sweep = pd.DataFrame([
        {"threshold": threshold, "coverage": float((frame["probability"] >= threshold).mean()),
         "precision": float(right[frame["probability"] >= threshold].mean()) if (frame["probability"] >= threshold).any()
         else float("nan")}
        for threshold in _CANDIDATES
    ])
    good = sweep[sweep["precision"] >= target_precision]
    chosen = good.iloc[0] if not good.empty else sweep.iloc[-1]
    confidences, outcomes = frame["probability"].tolist(), right.tolist()
    result = CascadeThresholds(
        accept_at=float(chosen["threshold"]), precision_at_accept=float(chosen["precision"]),
        coverage_at_accept=float(chosen["coverage"]),
        calibration_error=expected_calibration_error(confidences, outcomes),
        reliability=reliability_table(confidences, outcomes), sweep=sweep,
    )
    logger.info("cascade threshold %.2f: precision %.3f, coverage %.2f out of fold over %d dev examples (ECE %.3f)",
                result.accept_at, result.precision_at_accept, result.coverage_at_accept, len(frame),
                result.calibration_error)
    return result
