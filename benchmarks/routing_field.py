"""Routing on the hand-written field set: the issue's targets, for any policy and prompt version.

    .venv/bin/python benchmarks/routing_field.py                       # the defaults (settings), whole test split
    .venv/bin/python benchmarks/routing_field.py --policy llm --version v4 --limit 60
    .venv/bin/python benchmarks/routing_field.py --paired v4:llm --paired-limit 40

Runs the lab's own `evaluate` (the router the job runs) against the local model on the
`test` split of datasets/field_v1.jsonl, and prints accuracy with its Wilson interval,
per-class recall, `none` precision, invalid and errored rates, completion tokens per
model decision, model-decision latency, calibration error, off-contract and review
rates. `--paired A:B` also runs prompt version A under policy B on a seeded sample and
the main configuration on the same sample, and prints both medians with the ratio and a
bootstrap interval over the sample, so the latency comparison is paired and in one run.
Answers come from the response cache when they are there (`--no-cache` measures afresh).
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
from pathlib import Path

import numpy as np

from sdr_pipeline.evals.datasets import load_dataset
from sdr_pipeline.evals.runner import EvalResult, evaluate
from sdr_pipeline.llm import make_client
from sdr_pipeline.registry import load_registry
from sdr_pipeline.router import load_knowledge, load_prompt
from sdr_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _run(examples, *, version: str, policy: str, settings: Settings, cache: bool, concurrency: int) -> EvalResult:
    prompt = load_prompt(settings.router_prompt, version, prompts_dir=ROOT / "prompts")
    pool, cascade = load_knowledge(settings, policy=policy, prompts=[prompt])
    llm = make_client(settings, use_cache=cache)
    done = {"n": 0}

    def progress(count: int, total: int, prediction) -> None:
        if count % 25 == 0 or count == total:
            print(f"  {version} · {policy}: {count}/{total}", flush=True)
        done["n"] = count

    return evaluate(examples, prompt=prompt, policy=policy, llm=llm, registry=load_registry(), pool=pool,  # type: ignore[arg-type]
                    cascade=cascade, concurrency=concurrency, on_progress=progress)


def _report(result: EvalResult) -> None:
    m = result.metrics
    print(f"\n{result.prompt_version} · {result.policy}: {m.n} messages, {result.wall_s:.0f} s")
    print(f"  accuracy            {m.accuracy:.3f} [{m.accuracy_ci_low:.3f}, {m.accuracy_ci_high:.3f}] (Wilson 95 %)")
    print(f"  macro-F1            {m.macro_f1:.3f}")
    print("  recall              " + ", ".join(f"{label} {value:.2f}" for label, value in m.recall.items()))
    print(f"  none precision      {m.precision.get('none', float('nan')):.3f}")
    print(f"  invalid / errored   {m.invalid_rate:.3f} / {m.error_rate:.3f}")
    print(f"  model call rate     {m.llm_call_rate:.2f} calls per message")
    tokens = m.completion_tokens_per_model_decision
    print(f"  completion tokens   {tokens:.1f} per model decision" if tokens is not None else "  completion tokens   -")
    if m.model_latency_p50_s is not None:
        print(f"  model decisions     p50 {m.model_latency_p50_s:.2f} s, p95 {m.model_latency_p95_s:.2f} s")
    print(f"  calibration error   {m.calibration_error:.3f}" if m.calibration_error is not None else "")
    print(f"  off-contract        {m.off_contract_rate:.3f};  review {m.review_rate:.3f}")
    decided = {}
    for prediction in result.predictions:
        decided[prediction.decided_by or prediction.predicted] = decided.get(prediction.decided_by or prediction.predicted, 0) + 1
    print("  decided by          " + ", ".join(f"{name} {count}" for name, count in sorted(decided.items())))


def _paired_latency(main: EvalResult, other: EvalResult, *, seed: int) -> None:
    """Median model-decision latency of both on the same messages, with a bootstrap interval of the ratio."""
    ours = {p.example_id: p.latency_s for p in main.predictions if p.llm_calls and p.measured}
    theirs = {p.example_id: p.latency_s for p in other.predictions if p.llm_calls and p.measured}
    both = sorted(set(ours) & set(theirs))
    if len(both) < 5:
        print(f"\npaired latency: only {len(both)} messages were model decisions in both (not from the cache)")
        return
    a, b = np.array([ours[i] for i in both]), np.array([theirs[i] for i in both])
    rng = np.random.default_rng(seed)
    ratios = [np.median(a[idx]) / np.median(b[idx]) for idx in (rng.integers(0, len(both), len(both)) for _ in range(2000))]
    low, high = np.percentile(ratios, [2.5, 97.5])
    print(f"\npaired on {len(both)} messages both decided with the model: {main.prompt_version}·{main.policy} "
          f"p50 {statistics.median(a):.2f} s vs {other.prompt_version}·{other.policy} p50 {statistics.median(b):.2f} s; "
          f"ratio {np.median(a) / np.median(b):.2f} [{low:.2f}, {high:.2f}] (bootstrap 95 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    settings = Settings(prompts_dir=ROOT / "prompts",
                        router_example_pool=tuple(ROOT / path for path in Settings().router_example_pool))
    parser.add_argument("--dataset", type=Path, default=ROOT / "datasets" / "field_v1.jsonl")
    parser.add_argument("--split", default="test")
    parser.add_argument("--version", default=settings.router_prompt_version)
    parser.add_argument("--policy", default=settings.router_policy)
    parser.add_argument("--limit", type=int, default=None, help="a seeded sample of this many (default: all)")
    parser.add_argument("--paired", default=None, help="VERSION:POLICY to compare latency with, e.g. v4:llm")
    parser.add_argument("--paired-limit", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # off-contract warnings are expected here: the set is drifted traffic
    examples = load_dataset(args.dataset, split=args.split)
    random.Random(args.seed).shuffle(examples)
    if args.limit:
        examples = examples[: args.limit]
    common = {"settings": settings, "cache": not args.no_cache, "concurrency": args.concurrency}
    result = _run(examples, version=args.version, policy=args.policy, **common)
    _report(result)
    if args.paired:
        version, policy = args.paired.split(":", 1)
        # the messages the main configuration asked its model about: the latency target is per model decision
        asked = {p.example_id for p in result.predictions if p.llm_calls and p.measured}
        sample = [example for example in examples if example.id in asked][: args.paired_limit]
        other = _run(sample, version=version, policy=policy, **common)
        _report(other)
        _paired_latency(result, other, seed=args.seed)


if __name__ == "__main__":
    main()
