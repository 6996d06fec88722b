"""The eval runner on hand-sized cases: every metric checked against values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdr_pipeline.evals.datasets import Example
from sdr_pipeline.evals.runner import ERRORED, INVALID, Prediction, compute_metrics, evaluate
from sdr_pipeline.exceptions import LLMUnavailableError, UserError
from sdr_pipeline.llm import LLMResult, Usage
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.registry import load_registry
from sdr_pipeline.router import load_prompt

REPO_ROOT = Path(__file__).resolve().parents[2]


def _answer(agent: str) -> dict:
    return {"agent": agent, "confidence": 0.9, "reason": "scripted"}


@pytest.fixture(scope="module")
def prompt():
    return load_prompt("router", "v2", prompts_dir=REPO_ROOT / "prompts")


@pytest.fixture(scope="module")
def five(test_examples: list[Example]) -> list[Example]:
    """Expected: lead_ingestion, lead_scoring, active_outreach, none, none."""
    wanted = ["lead_ingestion", "lead_scoring", "active_outreach", "none", "none"]
    picked: list[Example] = []
    for label in wanted:
        picked.append(next(e for e in test_examples if e.expected_agent == label and e not in picked))
    return picked


def test_five_examples_match_hand_computed_metrics(five: list[Example], prompt) -> None:
    # answers: right, right, wrong (nurture for active_outreach), right (none), then three non-JSON -> invalid
    llm = ScriptedLLM([_answer("lead_ingestion"), _answer("lead_scoring"), _answer("nurture_campaign"),
                       _answer("none"), "not json", "still not json", "nope"])
    result = evaluate(five, prompt=prompt, policy="llm", llm=llm, registry=load_registry(), concurrency=1)
    m = result.metrics

    assert [p.predicted for p in result.predictions] == ["lead_ingestion", "lead_scoring", "nurture_campaign",
                                                         "none", INVALID]
    assert [p.example_id for p in result.predictions] == [e.id for e in five]
    assert m.n == 5 and m.correct == 3
    assert m.accuracy == pytest.approx(0.6)
    # Wilson 95 % for 3/5 by hand: centre (0.6 + z²/10) / (1 + z²/5), half-width z·sqrt(0.048 + z²/100) / (1 + z²/5)
    assert (m.accuracy_ci_low, m.accuracy_ci_high) == pytest.approx((0.2307, 0.8824), abs=1e-4)
    assert m.invalid_rate == pytest.approx(0.2)
    assert m.recall == pytest.approx({"lead_ingestion": 1.0, "lead_scoring": 1.0, "active_outreach": 0.0, "none": 0.5})
    assert m.precision == pytest.approx({"lead_ingestion": 1.0, "lead_scoring": 1.0, "active_outreach": 0.0,
                                         "none": 1.0})
    assert m.support == {"lead_ingestion": 1, "lead_scoring": 1, "active_outreach": 1, "none": 2}
    # F1 over the labels that occur: ingestion 1, scoring 1, outreach 0, nurture 0 (predicted once, wrong), none 2/3
    assert m.macro_f1 == pytest.approx((1 + 1 + 0 + 0 + 2 / 3) / 5)
    # every model call is counted, the three re-asks of the invalid one included
    assert m.llm_call_rate == pytest.approx(7 / 5)
    assert result.predictions[-1].llm_calls == 3 and not result.predictions[-1].valid
    assert m.prompt_tokens == sum(max(1, sum(len(x["content"]) for x in c.messages) // 4) for c in llm.calls)
    assert m.cost_usd == 0.0 and m.cost_per_1k_messages == 0.0
    assert llm.remaining == 0


class _MeteredScript:
    """Answers in order with fixed usage and price; every other call claims to come from the cache."""

    model = "metered"

    def __init__(self, answers: list[dict]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def chat(self, messages, *, schema=None, schema_name="answer", temperature=0.0, max_tokens=512, seed=None,
             top_logprobs=0):
        import json

        answer = self.answers[self.calls]
        self.calls += 1
        return LLMResult(content=json.dumps(answer), parsed=answer, usage=Usage(100, 10), latency_s=0.01,
                         cost_usd=0.002, model=self.model, cached=self.calls % 2 == 0)

    async def achat(self, messages, **kwargs):  # pragma: no cover - the runner is synchronous
        return self.chat(messages, **kwargs)


def test_tokens_cost_and_latency_only_over_cache_misses(five: list[Example], prompt) -> None:
    llm = _MeteredScript([_answer(e.expected_agent) for e in five])
    result = evaluate(five, prompt=prompt, policy="llm", llm=llm, registry=load_registry(), concurrency=1)
    m = result.metrics
    assert m.accuracy == 1.0 and m.macro_f1 == 1.0
    assert (m.prompt_tokens, m.completion_tokens) == (500, 50)
    assert m.tokens_per_message == pytest.approx(110)
    assert m.cost_usd == pytest.approx(0.01)
    assert m.cost_per_1k_messages == pytest.approx(2.0)  # 0.002 per message, times 1,000
    # calls 2 and 4 were "cached": latency percentiles use the other three only
    assert [p.cached for p in result.predictions] == [False, True, False, True, False]
    assert m.cached_rate == pytest.approx(0.4)
    assert m.latency_measured == 3
    uncached = [p.latency_s for p in result.predictions if not p.cached]
    assert m.latency_p50_s == pytest.approx(float(np.percentile(uncached, 50)))
    assert m.latency_p95_s == pytest.approx(float(np.percentile(uncached, 95)))
    assert result.model == "metered"


def test_concurrent_evaluation_keeps_dataset_order(test_examples: list[Example], prompt) -> None:
    examples = test_examples[:12]
    llm = ScriptedLLM([_answer("none")] * 12)
    result = evaluate(examples, prompt=prompt, policy="llm", llm=llm, registry=load_registry(), concurrency=4)
    assert [p.example_id for p in result.predictions] == [e.id for e in examples]
    assert all(p.predicted == "none" for p in result.predictions)
    assert result.metrics.correct == sum(e.expected_agent == "none" for e in examples)


def test_contract_policy_ends_a_delivery_report_without_the_model(test_examples: list[Example], prompt) -> None:
    registry = load_registry()
    report = next(e for e in test_examples if e.expected_agent == "none"
                  and [n for n, why in registry.candidates(e.message).items() if why is None] == ["none"])
    llm = ScriptedLLM([])
    done: list[tuple[int, int]] = []
    result = evaluate([report], prompt=prompt, policy="contract", llm=llm, registry=registry,
                      on_progress=lambda count, total, prediction: done.append((count, total)))
    assert (result.predictions[0].predicted, result.predictions[0].decided_by) == ("none", "contract")
    assert result.predictions[0].llm_calls == 0 and result.metrics.llm_call_rate == 0.0
    assert result.metrics.model_latency_p50_s is None and result.metrics.completion_tokens_per_model_decision is None
    assert done == [(1, 1)]


def test_a_failing_model_is_recorded_per_example_and_the_run_goes_on(five: list[Example], prompt) -> None:
    down = LLMUnavailableError("http://127.0.0.1:1/v1", "no answer within 60 s (3 attempts)")
    llm = ScriptedLLM([down, _answer("none"), _answer("none"), _answer("none"), _answer("none")])
    result = evaluate(five, prompt=prompt, policy="llm", llm=llm, registry=load_registry())
    errored = [p for p in result.predictions if p.predicted == ERRORED]
    assert len(errored) == 1 and "no answer within 60 s" in errored[0].reason and not errored[0].correct
    assert result.metrics.error_rate == pytest.approx(0.2) and result.metrics.n == 5


def test_confusion_matrix_shows_invalid_column_and_frame_round_trips(five: list[Example], prompt) -> None:
    llm = ScriptedLLM([_answer("lead_ingestion"), _answer("none"), _answer("none"), _answer("none"), "x", "y", "z"])
    result = evaluate(five, prompt=prompt, policy="llm", llm=llm, registry=load_registry())
    matrix = result.confusion()
    assert list(matrix.columns)[-1] == INVALID
    assert int(matrix.loc["none", INVALID]) == 1 and int(matrix.to_numpy().sum()) == 5
    frame = result.to_frame()
    assert list(frame["correct"]) == [p.correct for p in result.predictions]
    assert result.metrics.flat()["recall_none"] == pytest.approx(0.5)


def test_metrics_refuse_empty_input_and_flatten_per_class_names() -> None:
    with pytest.raises(UserError):
        compute_metrics([])
    perfect = [Prediction("a", "none", "none", True, 0.1, 1, 1, 0.0, False, 1)]
    flat = compute_metrics(perfect).flat()
    assert flat["accuracy"] == 1.0 and flat["recall_none"] == 1.0 and flat["precision_none"] == 1.0
    wrong = [Prediction("a", "none", "send_email", True, 0.1, 1, 1, 0.0, True, 1)]
    metrics = compute_metrics(wrong)
    assert metrics.accuracy == 0.0 and metrics.recall == {"none": 0.0}
    assert metrics.latency_p50_s is None and "latency_p50_s" not in metrics.flat()
