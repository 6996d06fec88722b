"""Metrics against hand-sized cases: a perfect case, an all-wrong case and one worked out by hand."""

from __future__ import annotations

import pytest

from sdr_pipeline.evals import metrics
from sdr_pipeline.exceptions import UserError

PERFECT_TRUE = ["lead_scoring", "none", "send_email", "none"]
ALL_WRONG_TRUE = ["lead_scoring", "none", "send_email"]
ALL_WRONG_PRED = ["none", "send_email", "lead_scoring"]

# The hand case used below, labels a, b, c:
#   y_true = a a b c
#   y_pred = a b b a
# a: TP=1 (#0), FP=1 (#3), FN=1 (#1) -> precision 1/2, recall 1/2, F1 1/2
# b: TP=1 (#2), FP=1 (#1), FN=0      -> precision 1/2, recall 1,   F1 2*(1/2*1)/(1/2+1) = 2/3
# c: TP=0, FP=0, FN=1 (#3)           -> precision 0 (never predicted), recall 0, F1 0
HAND_TRUE = ["a", "a", "b", "c"]
HAND_PRED = ["a", "b", "b", "a"]


def test_accuracy() -> None:
    assert metrics.accuracy(PERFECT_TRUE, PERFECT_TRUE) == 1.0
    assert metrics.accuracy(ALL_WRONG_TRUE, ALL_WRONG_PRED) == 0.0
    # 2 of the 4 hand-case predictions (#0 and #2) match -> 2/4
    assert metrics.accuracy(HAND_TRUE, HAND_PRED) == pytest.approx(0.5)


def test_macro_f1() -> None:
    assert metrics.macro_f1(PERFECT_TRUE, PERFECT_TRUE) == 1.0
    assert metrics.macro_f1(ALL_WRONG_TRUE, ALL_WRONG_PRED) == 0.0
    # (1/2 + 2/3 + 0) / 3 = 7/18
    assert metrics.macro_f1(HAND_TRUE, HAND_PRED) == pytest.approx(7 / 18)
    # a label the caller names but nobody used still counts: (1 + 1 + 0) / 3
    assert metrics.macro_f1(["a", "b"], ["a", "b"], labels=["a", "b", "c"]) == pytest.approx(2 / 3)


def test_per_class_precision() -> None:
    assert metrics.per_class_precision(PERFECT_TRUE, PERFECT_TRUE) == {
        "lead_scoring": 1.0, "none": 1.0, "send_email": 1.0,
    }
    assert set(metrics.per_class_precision(ALL_WRONG_TRUE, ALL_WRONG_PRED).values()) == {0.0}
    assert metrics.per_class_precision(HAND_TRUE, HAND_PRED) == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})


def test_per_class_recall() -> None:
    assert set(metrics.per_class_recall(PERFECT_TRUE, PERFECT_TRUE).values()) == {1.0}
    assert set(metrics.per_class_recall(ALL_WRONG_TRUE, ALL_WRONG_PRED).values()) == {0.0}
    assert metrics.per_class_recall(HAND_TRUE, HAND_PRED) == pytest.approx({"a": 0.5, "b": 1.0, "c": 0.0})
    # labels fixes both the set and the order of the keys
    assert list(metrics.per_class_recall(HAND_TRUE, HAND_PRED, labels=["c", "b", "a"])) == ["c", "b", "a"]


def test_confusion_matrix() -> None:
    perfect = metrics.confusion_matrix(PERFECT_TRUE, PERFECT_TRUE)
    # everything on the diagonal: the trace is the number of examples
    assert perfect.to_numpy().trace() == len(PERFECT_TRUE) == perfect.to_numpy().sum()
    all_wrong = metrics.confusion_matrix(ALL_WRONG_TRUE, ALL_WRONG_PRED)
    assert all_wrong.to_numpy().trace() == 0
    hand = metrics.confusion_matrix(HAND_TRUE, HAND_PRED)
    assert hand.index.name == "expected" and hand.columns.name == "predicted"
    # rows: expected a -> predicted a once, b once; b -> b once; c -> a once
    assert hand.loc["a"].tolist() == [1, 1, 0]
    assert hand.loc["b"].tolist() == [0, 1, 0]
    assert hand.loc["c"].tolist() == [1, 0, 0]


def test_mismatched_or_empty_inputs_are_user_errors() -> None:
    with pytest.raises(UserError, match="y_pred has 1"):
        metrics.accuracy(["a", "b"], ["a"])
    with pytest.raises(UserError, match="no examples"):
        metrics.macro_f1([], [])


def test_wilson_interval() -> None:
    assert metrics.wilson_interval(10, 10).high == pytest.approx(1.0)
    assert metrics.wilson_interval(0, 10).low == pytest.approx(0.0)
    # By hand for 8/10 at 95 %: z = 1.959964, z^2 = 3.841459, p = 0.8, n = 10
    #   denominator = 1 + z^2/n = 1.3841459
    #   centre      = (p + z^2/(2n)) / denominator = (0.8 + 0.1920729) / 1.3841459 = 0.716736
    #   half width  = z * sqrt(p(1-p)/n + z^2/(4n^2)) / denominator
    #               = 1.959964 * sqrt(0.016 + 0.0096036) / 1.3841459 = 0.226574
    #   interval    = (0.490162, 0.943310)
    low, high = metrics.wilson_interval(8, 10)
    assert low == pytest.approx(0.490162, abs=1e-5)
    assert high == pytest.approx(0.943310, abs=1e-5)
    with pytest.raises(UserError):
        metrics.wilson_interval(3, 0)
    with pytest.raises(UserError):
        metrics.wilson_interval(11, 10)


def test_mcnemar_identical_routers_are_not_different() -> None:
    result = metrics.mcnemar(HAND_TRUE, HAND_PRED, HAND_PRED)
    assert (result.b, result.c, result.p_value, result.exact, result.better) == (0, 0, 1.0, True, "tie")


def test_mcnemar_exact_by_hand() -> None:
    # 10 examples, all labelled "x"; router A is right on #0 and #1-#3, B on #0 and #4-#9.
    #   both right: #0 -> 1;  A only (b): #1 -> 1;  B only (c): #4..#9 -> 6;  neither: #2, #3 -> 2
    # b + c = 7 < 25, so the exact two-sided binomial test with p = 1/2:
    #   p = 2 * P(X <= min(b, c) = 1 | n = 7) = 2 * (C(7,0) + C(7,1)) / 2^7 = 2 * 8 / 128 = 0.125
    truth = ["x"] * 10
    pred_a = ["x", "x", "y", "y", "y", "y", "y", "y", "y", "y"]
    pred_b = ["x", "y", "y", "y", "x", "x", "x", "x", "x", "x"]
    result = metrics.mcnemar(truth, pred_a, pred_b)
    assert (result.b, result.c, result.exact, result.better) == (1, 6, True, "b")
    assert result.statistic == 1.0
    assert result.p_value == pytest.approx(0.125)


def test_mcnemar_chi_square_by_hand() -> None:
    # b = 20, c = 6 -> b + c = 26 >= 25, so the chi-square with continuity correction:
    #   statistic = (|b - c| - 1)^2 / (b + c) = 13^2 / 26 = 6.5
    #   p = P(chi2 with 1 dof > 6.5) = erfc(sqrt(6.5 / 2)) = erfc(1.802776) ~= 0.010787
    truth = ["x"] * 30
    pred_a = ["x"] * 20 + ["y"] * 6 + ["x", "x", "y", "y"]
    pred_b = ["y"] * 20 + ["x"] * 6 + ["x", "x", "y", "y"]
    result = metrics.mcnemar(truth, pred_a, pred_b)
    assert (result.b, result.c, result.exact, result.better) == (20, 6, False, "a")
    assert result.statistic == pytest.approx(6.5)
    assert result.p_value == pytest.approx(0.010787, abs=1e-5)


def test_expected_calibration_error() -> None:
    """Perfect (1.0 confident and right), all wrong at full confidence, and one worked out by hand."""
    assert metrics.expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    assert metrics.expected_calibration_error([1.0, 1.0], [False, False]) == 1.0
    # bin 0.9: 2 decisions, accuracy 0.5 -> |0.5-0.9| = 0.4; bin 0.5: 2 decisions, accuracy 1 -> 0.5
    assert metrics.expected_calibration_error([0.9, 0.9, 0.5, 0.5], [True, False, True, True]) == pytest.approx(0.45)
    table = metrics.reliability_table([0.9, 0.9, 0.5, 0.5], [True, False, True, True])
    assert table["n"].tolist() == [2, 2] and table["accuracy"].tolist() == [1.0, 0.5]
    with pytest.raises(UserError):
        metrics.expected_calibration_error([0.5], [True, False])
