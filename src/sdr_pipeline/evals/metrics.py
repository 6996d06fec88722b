"""Routing metrics: how often the router picks the expected agent, and how sure we can be.

Every label metric shares one signature, `(y_true, y_pred, labels=None)`, so the eval
runner and the promotion gate can treat them alike. `labels` fixes the label set (and
its order); when it is None the labels seen in `y_true` or `y_pred` are used, sorted.
The computations are scikit-learn's and statsmodels', never hand-rolled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn import metrics as _sk
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from sdr_pipeline.exceptions import UserError

__all__ = [
    "EXACT_MCNEMAR_BELOW",
    "Interval",
    "McNemarResult",
    "accuracy",
    "confusion_matrix",
    "expected_calibration_error",
    "macro_f1",
    "mcnemar",
    "per_class_precision",
    "per_class_recall",
    "reliability_table",
    "wilson_interval",
]

EXACT_MCNEMAR_BELOW = 25
"""McNemar uses the exact binomial test when the discordant pairs b + c are fewer than this."""


def _checked(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None) -> list[str]:
    """Reject mismatched or empty inputs and resolve the label set."""
    if len(y_true) != len(y_pred):
        raise UserError(
            f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}",
            fix="pass one prediction per example, in the same order",
        )
    if len(y_true) == 0:
        raise UserError("no examples to score", fix="check the dataset path, --split and --limit")
    if labels is not None:
        return list(labels)
    return sorted(set(y_true) | set(y_pred))


def accuracy(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Share of examples routed to the expected agent (`labels` only fixes the label set)."""
    _checked(y_true, y_pred, labels)
    return float(_sk.accuracy_score(list(y_true), list(y_pred)))


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Unweighted mean of per-label F1: a rare label counts as much as a common one."""
    resolved = _checked(y_true, y_pred, labels)
    return float(_sk.f1_score(list(y_true), list(y_pred), labels=resolved, average="macro", zero_division=0.0))


def per_class_precision(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, float]:
    """Label -> share of the messages routed there that belonged there (0.0 if never predicted)."""
    resolved = _checked(y_true, y_pred, labels)
    values = _sk.precision_score(list(y_true), list(y_pred), labels=resolved, average=None, zero_division=0.0)
    return {label: float(value) for label, value in zip(resolved, values, strict=True)}


def per_class_recall(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, float]:
    """Label -> share of the messages that belonged there and were routed there (0.0 if absent)."""
    resolved = _checked(y_true, y_pred, labels)
    values = _sk.recall_score(list(y_true), list(y_pred), labels=resolved, average=None, zero_division=0.0)
    return {label: float(value) for label, value in zip(resolved, values, strict=True)}


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> pd.DataFrame:
    """Counts with expected agents as rows (`expected`) and predicted agents as columns (`predicted`)."""
    resolved = _checked(y_true, y_pred, labels)
    counts = _sk.confusion_matrix(list(y_true), list(y_pred), labels=resolved)
    return pd.DataFrame(
        counts,
        index=pd.Index(resolved, name="expected"),
        columns=pd.Index(resolved, name="predicted"),
    )


def reliability_table(confidences: Sequence[float], correct: Sequence[bool], *, bins: int = 10) -> pd.DataFrame:
    """Per confidence bin: how many decisions, their mean confidence and their accuracy (empty bins left out)."""
    if len(confidences) != len(correct):
        raise UserError(f"{len(confidences)} confidences but {len(correct)} outcomes", fix="pass one of each per decision")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidences, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for number in range(bins):
        members = [i for i, b in enumerate(index) if b == number]
        if members:
            rows.append({"low": edges[number], "high": edges[number + 1], "n": len(members),
                         "confidence": float(np.mean([confidences[i] for i in members])),
                         "accuracy": float(np.mean([bool(correct[i]) for i in members]))})
    return pd.DataFrame(rows, columns=["low", "high", "n", "confidence", "accuracy"])


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], *, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width bins, weighted by how many decisions fall in each."""
    table = reliability_table(confidences, correct, bins=bins)
    if table.empty:
        raise UserError("no decisions to calibrate", fix="pass at least one confidence")
    return float((table["n"] * (table["accuracy"] - table["confidence"]).abs()).sum() / table["n"].sum())


class Interval(NamedTuple):
    """A two-sided confidence interval for a proportion; unpacks as `low, high`."""

    low: float
    high: float


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for `successes` out of `n`: sound near 0 and 1, unlike the normal one."""
    if n <= 0 or not 0 <= successes <= n:
        raise UserError(
            f"cannot build an interval for {successes} successes out of {n}",
            fix="n must be positive and successes between 0 and n",
        )
    if not 0.0 < confidence < 1.0:
        raise UserError(f"confidence {confidence} is not between 0 and 1", fix="use e.g. 0.95")
    low, high = proportion_confint(successes, n, alpha=1.0 - confidence, method="wilson")
    return Interval(float(low), float(high))


@dataclass(frozen=True)
class McNemarResult:
    """Paired comparison of two routers on the same examples."""

    b: int
    """Examples router A got right and router B got wrong."""
    c: int
    """Examples router A got wrong and router B got right."""
    statistic: float
    """min(b, c) for the exact test; the continuity-corrected chi-square otherwise."""
    p_value: float
    """Two-sided probability of a split at least this uneven if both routers were equally good."""
    exact: bool
    """True when the exact binomial test was used (b + c below EXACT_MCNEMAR_BELOW)."""

    @property
    def better(self) -> str:
        """'a', 'b' or 'tie': which router won more of the discordant pairs (not whether it is significant)."""
        if self.b == self.c:
            return "tie"
        return "a" if self.b > self.c else "b"


def mcnemar(y_true: Sequence[str], pred_a: Sequence[str], pred_b: Sequence[str]) -> McNemarResult:
    """McNemar's test on the paired correctness of two routers' predictions."""
    _checked(y_true, pred_a, None)
    _checked(y_true, pred_b, None)
    truth = np.asarray(list(y_true), dtype=object)
    right_a = np.asarray(list(pred_a), dtype=object) == truth
    right_b = np.asarray(list(pred_b), dtype=object) == truth
    both = int(np.sum(right_a & right_b))
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    neither = int(np.sum(~right_a & ~right_b))
    exact = (b + c) < EXACT_MCNEMAR_BELOW
    result = _sm_mcnemar([[both, b], [c, neither]], exact=exact, correction=True)
    return McNemarResult(b=b, c=c, statistic=float(result.statistic), p_value=float(result.pvalue), exact=exact)
