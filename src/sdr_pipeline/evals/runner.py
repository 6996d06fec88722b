"""Run the router over labelled examples and score it: the one place the lab's figures come from.

`evaluate` calls the very `router.decide` the Flink job calls, one example per thread
(`concurrency` threads; the model endpoint decides how many it really serves at once),
and returns an `EvalResult`: one `Prediction` per example, in dataset order, plus the
metrics computed from them by `evals.metrics`. A decision the router gives up on
(`RouterDecisionError`) is a prediction too, `predicted="invalid"`, counted as wrong and
in the invalid-output rate; a message the `strict` policy refuses is `dead_letter`; a
model call that still fails after the LLM layer's retries is `error` (counted, shown,
kept), so one slow answer never throws away a long run.

Latency percentiles use only decisions that were not answered from the response cache,
so a cached re-run reports the latency measured when the answers were made (or none).
Cost is the list price of the tokens used, cached answers included, so a re-run from the
cache reports the same cost per 1,000 messages as the first run.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sdr_pipeline.evals.datasets import ROUTING_LABELS, Example
from sdr_pipeline.evals.metrics import (
    accuracy,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    per_class_precision,
    per_class_recall,
    wilson_interval,
)
from sdr_pipeline.evals.recording import RecordingClient
from sdr_pipeline.exceptions import ContractError, LLMUnavailableError, RouterDecisionError, UserError
from sdr_pipeline.router import DEFAULT_ANSWER_ATTEMPTS, decide

if TYPE_CHECKING:
    from sdr_pipeline.contracts.decision import RoutingPolicy
    from sdr_pipeline.llm import ChatClient
    from sdr_pipeline.registry import AgentRegistry
    from sdr_pipeline.router import Cascade, ExamplePool, RouterPrompt

__all__ = [
    "DEAD_LETTER",
    "ERRORED",
    "INVALID",
    "EvalMetrics",
    "EvalResult",
    "Prediction",
    "ProgressCallback",
    "compute_metrics",
    "evaluate",
]

logger = logging.getLogger(__name__)

INVALID = "invalid"
"""The `predicted` value of an example the router could not decide (no valid answer after retries)."""
DEAD_LETTER = "dead_letter"
"""What the `strict` policy does with an off-contract message."""
ERRORED = "error"
"""The model endpoint kept failing for this example."""

ProgressCallback = Callable[[int, int, "Prediction"], None]
"""Called as `(done, total, prediction)` after each example, on the caller's thread."""


@dataclass(frozen=True)
class Prediction:
    """What the router did with one labelled example."""

    example_id: str
    expected: str
    """The label."""
    predicted: str
    """The agent the router chose, `none`, or `invalid`."""
    valid: bool
    """False when the router raised RouterDecisionError."""
    latency_s: float
    """Wall time of the decision, model calls included."""
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    """List price of the tokens, also when answered from the cache."""
    cached: bool
    """True when every model call of the decision came from the response cache."""
    llm_calls: int
    """Model calls made (0 when the contract policy decided alone; more than 1 after re-asks)."""
    confidence: float | None = None
    reason: str = ""
    """The decision's reason, or the router's error for an invalid one."""
    tags: tuple[str, ...] = ()
    """The example's tags, for slicing results."""
    decided_by: str = ""
    """contract, classifier or model; empty for an invalid, dead-lettered or errored one."""
    off_contract: bool = False
    needs_review: bool = False

    @property
    def correct(self) -> bool:
        return self.predicted == self.expected

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def measured(self) -> bool:
        """Counts for latency: not answered from the cache."""
        return not self.cached


@dataclass(frozen=True)
class EvalMetrics:
    """Every figure of one evaluation; `flat()` gives the MLflow metric names."""

    n: int
    """Examples evaluated."""
    correct: int
    accuracy: float
    accuracy_ci_low: float
    """Lower end of the Wilson 95 % interval on accuracy."""
    accuracy_ci_high: float
    macro_f1: float
    """Mean F1 over the labels that occur (expected or predicted)."""
    precision: dict[str, float]
    """Per label that occurs in the expected labels."""
    recall: dict[str, float]
    """Per label that occurs in the expected labels."""
    support: dict[str, int]
    """Expected count per label."""
    invalid_rate: float
    """Share of examples without a valid decision."""
    latency_p50_s: float | None
    """Median decision latency over examples not answered from the cache; None if all were cached."""
    latency_p95_s: float | None
    latency_measured: int
    """How many examples the latency percentiles are based on."""
    prompt_tokens: int
    completion_tokens: int
    tokens_per_message: float
    cost_usd: float
    cost_per_1k_messages: float
    """cost_usd / n * 1000, in US dollars."""
    llm_call_rate: float
    """Model calls per example (under `contract` some examples need none)."""
    cached_rate: float
    """Share of examples answered entirely from the cache."""
    model_latency_p50_s: float | None = None
    """Median latency of decisions that asked the model (not from the cache)."""
    model_latency_p95_s: float | None = None
    completion_tokens_per_model_decision: float | None = None
    """Completion tokens per decision that asked the model: what generation costs on a CPU."""
    off_contract_rate: float = 0.0
    """Share of messages no input contract accepted (their producers drifted)."""
    review_rate: float = 0.0
    """Share of decisions sent to review instead of acted on (cascade)."""
    error_rate: float = 0.0
    """Share of examples whose model calls kept failing."""
    calibration_error: float | None = None
    """Expected calibration error of the decisions' confidences (10 bins)."""

    def flat(self) -> dict[str, float]:
        """Scalar metrics by MLflow name: per-label ones as `recall_<label>`; missing latencies left out."""
        values: dict[str, float] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, dict):
                prefix = item.name
                values.update({f"{prefix}_{label}": float(number) for label, number in value.items()})
            elif value is not None:
                values[item.name] = float(value)
        values["total_tokens"] = float(self.prompt_tokens + self.completion_tokens)
        return values

    def headline(self) -> dict[str, float]:
        """`flat()` without the per-class figures."""
        per_class = tuple(f"{prefix}_" for prefix in ("precision", "recall", "support"))
        return {name: value for name, value in self.flat().items() if not name.startswith(per_class)}


def compute_metrics(predictions: Sequence[Prediction], *, labels: Sequence[str] = ROUTING_LABELS) -> EvalMetrics:
    """Every figure, from the predictions alone (so saved predictions can be re-scored)."""
    if not predictions:
        raise UserError("no predictions to score", fix="check the dataset path, --split and --limit")
    y_true = [p.expected for p in predictions]
    y_pred = [p.predicted for p in predictions]
    n = len(predictions)
    correct = sum(p.correct for p in predictions)
    present = [label for label in labels if label in set(y_true) | set(y_pred)]
    expected_labels = [label for label in labels if label in set(y_true)]
    low, high = wilson_interval(correct, n)
    measured = [p.latency_s for p in predictions if p.measured]
    prompt_tokens = sum(p.prompt_tokens for p in predictions)
    completion_tokens = sum(p.completion_tokens for p in predictions)
    cost = sum(p.cost_usd for p in predictions)
    asked = [p for p in predictions if p.llm_calls > 0]
    asked_measured = [p.latency_s for p in asked if p.measured]
    confident = [p for p in predictions if p.confidence is not None and p.valid]
    return EvalMetrics(
        n=n,
        correct=correct,
        accuracy=accuracy(y_true, y_pred),
        accuracy_ci_low=low,
        accuracy_ci_high=high,
        macro_f1=macro_f1(y_true, y_pred, labels=present) if present else 0.0,
        precision=per_class_precision(y_true, y_pred, labels=expected_labels) if expected_labels else {},
        recall=per_class_recall(y_true, y_pred, labels=expected_labels) if expected_labels else {},
        support={label: y_true.count(label) for label in expected_labels},
        invalid_rate=sum(not p.valid for p in predictions) / n,
        latency_p50_s=float(np.percentile(measured, 50)) if measured else None,
        latency_p95_s=float(np.percentile(measured, 95)) if measured else None,
        latency_measured=len(measured),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        tokens_per_message=(prompt_tokens + completion_tokens) / n,
        cost_usd=cost,
        cost_per_1k_messages=cost / n * 1000,
        llm_call_rate=sum(p.llm_calls for p in predictions) / n,
        cached_rate=sum(p.cached for p in predictions) / n,
        model_latency_p50_s=float(np.percentile(asked_measured, 50)) if asked_measured else None,
        model_latency_p95_s=float(np.percentile(asked_measured, 95)) if asked_measured else None,
        completion_tokens_per_model_decision=(sum(p.completion_tokens for p in asked) / len(asked)) if asked else None,
        off_contract_rate=sum(p.off_contract for p in predictions) / n,
        review_rate=sum(p.needs_review for p in predictions) / n,
        error_rate=sum(p.predicted == ERRORED for p in predictions) / n,
        calibration_error=(expected_calibration_error([p.confidence or 0.0 for p in confident],
                                                      [p.correct for p in confident]) if confident else None),
    )


@dataclass(frozen=True)
class EvalResult:
    """Predictions (in dataset order) and their metrics for one prompt version, policy and model."""

    predictions: tuple[Prediction, ...]
    metrics: EvalMetrics
    prompt_name: str
    prompt_version: str
    prompt_hash: str
    policy: str
    model: str | None
    """Model the endpoint reported (None if no model was asked)."""
    concurrency: int
    wall_s: float
    """Wall time of the whole evaluation."""
    labels: tuple[str, ...] = field(default=ROUTING_LABELS)

    def to_frame(self) -> pd.DataFrame:
        """One row per example: the predictions CSV."""
        rows = []
        for prediction in self.predictions:
            row = asdict(prediction)
            row["tags"] = json.dumps(list(prediction.tags), ensure_ascii=False)  # tags are free strings
            row["correct"] = prediction.correct
            rows.append(row)
        return pd.DataFrame(rows)

    def confusion(self) -> pd.DataFrame:
        """Expected (rows) by predicted (columns), with an `invalid` column when the router failed somewhere."""
        y_true = [p.expected for p in self.predictions]
        y_pred = [p.predicted for p in self.predictions]
        shown = [label for label in self.labels if label in set(y_true) | set(y_pred)]
        if INVALID in y_pred:
            shown.append(INVALID)
        return confusion_matrix(y_true, y_pred, labels=shown)

    def per_class(self) -> pd.DataFrame:
        """Precision, recall and support per expected label."""
        m = self.metrics
        return pd.DataFrame({"precision": m.precision, "recall": m.recall, "support": m.support}).rename_axis("label")

    def by_tag(self, *, min_count: int = 1) -> pd.DataFrame:
        """Accuracy per example tag (with its Wilson interval), worst first: where the prompt fails."""
        counts: dict[str, list[int]] = {}
        for prediction in self.predictions:
            for tag in prediction.tags:
                counts.setdefault(tag, [0, 0])
                counts[tag][0] += prediction.correct
                counts[tag][1] += 1
        rows = []
        for tag, (right, total) in counts.items():
            if total >= min_count:
                low, high = wilson_interval(right, total)
                rows.append({"tag": tag, "n": total, "accuracy": right / total, "ci_low": low, "ci_high": high})
        frame = pd.DataFrame(rows, columns=["tag", "n", "accuracy", "ci_low", "ci_high"])
        return frame.sort_values(["accuracy", "n"], ascending=[True, False]).set_index("tag")

    def summary(self) -> dict[str, Any]:
        """The headline figures as plain JSON values (what `eval run --json` prints)."""
        m = self.metrics
        return {
            "prompt": self.prompt_name, "version": self.prompt_version, "prompt_hash": self.prompt_hash,
            "policy": self.policy, "model": self.model, "n": m.n, "wall_s": round(self.wall_s, 3),
            "metrics": {name: (None if isinstance(value, float) and math.isnan(value) else value)
                        for name, value in m.flat().items()},
            "latency_p50_s": m.latency_p50_s, "latency_p95_s": m.latency_p95_s,
        }


def _predict(
    example: Example, *, prompt: RouterPrompt, policy: RoutingPolicy, llm: ChatClient, registry: AgentRegistry,
    answer_attempts: int, pool: ExamplePool | None, cascade: Cascade | None,
) -> Prediction:
    """Route one example and turn the decision (or the router's refusal) into a Prediction."""
    recorder = RecordingClient(llm)
    started = time.perf_counter()
    common = {"example_id": example.id, "expected": example.expected_agent, "tags": example.tags}
    try:
        decision = decide(example.message, prompt=prompt, policy=policy, llm=recorder, registry=registry,
                          pool=pool, cascade=cascade, answer_attempts=answer_attempts)
    except (RouterDecisionError, ContractError, LLMUnavailableError) as error:
        usage = recorder.usage
        predicted = {RouterDecisionError: INVALID, ContractError: DEAD_LETTER}.get(type(error), ERRORED)
        logger.info("%s decision example=%s message_id=%s prompt_version=%s: %s", predicted, example.id,
                    example.message.message_id, prompt.version, error)
        return Prediction(**common, predicted=predicted, valid=False, latency_s=time.perf_counter() - started,
                          prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                          cost_usd=recorder.cost_usd, cached=recorder.cached, llm_calls=len(recorder.calls),
                          reason=str(error), off_contract=predicted == DEAD_LETTER)
    usage = recorder.usage
    return Prediction(**common, predicted=decision.agent, valid=True, latency_s=decision.latency_s,
                      prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                      cost_usd=recorder.cost_usd, cached=recorder.cached, llm_calls=len(recorder.calls),
                      confidence=decision.confidence, reason=decision.reason, decided_by=decision.decided_by,
                      off_contract=decision.off_contract, needs_review=decision.needs_review)


def evaluate(
    examples: Sequence[Example],
    *,
    prompt: RouterPrompt,
    policy: RoutingPolicy,
    llm: ChatClient,
    registry: AgentRegistry,
    concurrency: int = 1,
    on_progress: ProgressCallback | None = None,
    answer_attempts: int = DEFAULT_ANSWER_ATTEMPTS,
    pool: ExamplePool | None = None,
    cascade: Cascade | None = None,
) -> EvalResult:
    """Route every example with `router.decide` on `concurrency` threads and score the decisions."""
    if not examples:
        raise UserError("no examples to evaluate", fix="check the dataset path, --split and --limit")
    if concurrency < 1:
        raise UserError(f"concurrency must be at least 1, got {concurrency}")
    logger.info("evaluating %d examples prompt=%s prompt_version=%s policy=%s concurrency=%d", len(examples),
                prompt.name, prompt.version, policy, concurrency)
    started = time.perf_counter()
    slots: list[Prediction | None] = [None] * len(examples)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval") as threads:
        futures: dict[Future[Prediction], int] = {
            threads.submit(_predict, example, prompt=prompt, policy=policy, llm=llm, registry=registry,
                           answer_attempts=answer_attempts, pool=pool, cascade=cascade): index
            for index, example in enumerate(examples)
        }
        pending = set(futures)
        done_count = 0
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    prediction = future.result()
                    slots[futures[future]] = prediction
                    done_count += 1
                    if on_progress is not None:
                        on_progress(done_count, len(examples), prediction)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    predictions = tuple(prediction for prediction in slots if prediction is not None)
    result = EvalResult(
        predictions=predictions,
        metrics=compute_metrics(predictions),
        prompt_name=prompt.name,
        prompt_version=prompt.version,
        prompt_hash=prompt.hash,
        policy=policy,
        model=_reported_model(llm),
        concurrency=concurrency,
        wall_s=time.perf_counter() - started,
    )
    logger.info("evaluated prompt_version=%s policy=%s: accuracy %.3f [%.3f, %.3f], invalid %.3f, %.1f s",
                prompt.version, policy, result.metrics.accuracy, result.metrics.accuracy_ci_low,
                result.metrics.accuracy_ci_high, result.metrics.invalid_rate, result.wall_s)
    return result


def _reported_model(llm: ChatClient) -> str | None:
    """The model name a client says it uses (LLMClient and ScriptedLLM both have `.model`)."""
    model = getattr(llm, "model", None)
    return model if isinstance(model, str) else None
