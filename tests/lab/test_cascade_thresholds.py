"""The cascade's thresholds are chosen out of fold, on dev data: a small pool with a known answer."""

from __future__ import annotations

import pytest

from sdr_pipeline.contracts import Envelope
from sdr_pipeline.evals.cascade import choose_thresholds, out_of_fold
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.router import ExamplePool, LabelledMessage

_TEXTS = {
    "nurture_campaign": ["not now, maybe next quarter", "budget frozen until autumn, keep me posted",
                         "send me some material for later", "check back next year please", "no priority this year"],
    "active_outreach": ["can we book a demo on tuesday", "what does pricing look like for 50 seats",
                        "please set up a call next week", "we want a trial this month", "send a quote for the plan"],
    "none": ["remove me from your list", "unsubscribe me now", "stop e-mailing me", "out of office until may",
             "delivery failed: user unknown"],
}


def _pool(copies: int) -> ExamplePool:
    examples = []
    for label, texts in _TEXTS.items():
        for copy in range(copies):
            for number, text in enumerate(texts):
                envelope = Envelope(lead_id=f"l{number}", produced_by="inbound_email", context=f"{text} ({copy})")
                examples.append(LabelledMessage(envelope, label, f"{label}-{copy}-{number}"))
    return ExamplePool(examples)


def test_out_of_fold_scores_every_example_once_with_a_classifier_that_never_saw_it() -> None:
    pool = _pool(2)
    frame = out_of_fold(pool, folds=3)
    assert sorted(frame["id"]) == sorted(example.id for example in pool.examples)
    assert frame["probability"].between(0, 1).all()
    assert (frame["label"] == frame["predicted"]).mean() > 0.6, "separable texts are mostly right out of fold"


def test_the_lowest_threshold_that_reaches_the_target_precision_is_chosen() -> None:
    chosen = choose_thresholds(_pool(2), target_precision=0.9, folds=3)
    sweep = chosen.sweep.dropna()
    reaching = sweep[sweep["precision"] >= 0.9]
    expected = reaching["threshold"].min() if not reaching.empty else chosen.sweep["threshold"].max()
    assert chosen.accept_at == expected
    assert chosen.precision_at_accept >= 0.9 or reaching.empty
    assert 0 <= chosen.calibration_error <= 1 and chosen.reliability["n"].sum() == 30
    assert list(sweep["coverage"]) == sorted(sweep["coverage"], reverse=True), "a higher bar answers fewer"
    with pytest.raises(UserError, match="target precision"):
        choose_thresholds(_pool(1), target_precision=1.0)
