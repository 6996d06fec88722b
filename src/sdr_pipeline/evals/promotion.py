"""Promote a prompt version to production: gather evidence, apply the gate, switch the running job.

`promote` evaluates the candidate and the current `production` version on the same
examples (same dataset file by sha256, split, limit and seed), and the candidate alone on the
gate's second floor (the generated test split), reusing an earlier MLflow evaluation run when
one with the same dataset, prompt hash, model and policy exists; then it applies the gate
(`evals.gate`). On pass (or `force`) it moves the `production`
alias, tags the registry version and publishes `ControlMessage(prompt, version)` to
`router_control`, so the running Flink job switches without a restart; if publishing
fails, the alias is put back. Every decision, refused ones included, is recorded as a run
in the `prompt-promotions` experiment with the evidence run ids, the gate figures and a
comparison figure. A refused promotion changes neither the alias nor the topic.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sdr_pipeline.contracts.decision import ControlMessage
from sdr_pipeline.contracts.topics import ROUTER_CONTROL
from sdr_pipeline.evals.datasets import dataset_sha256
from sdr_pipeline.evals.experiment import EvalSpec, run_spec
from sdr_pipeline.evals.figures import promotion_figure, save_png
from sdr_pipeline.evals.gate import GateConfig, GateVerdict, check_promotion
from sdr_pipeline.evals.prompt_registry import PRODUCTION_ALIAS, PromptRegistry, RegisteredVersion
from sdr_pipeline.evals.runner import EvalResult, ProgressCallback
from sdr_pipeline.evals.tracking import (
    EXPERIMENT,
    KIND_TAG,
    find_eval_runs,
    load_stored_eval,
    log_eval_run,
    mlflow_client,
)
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.router import RouterPrompt, load_prompt
from sdr_pipeline.settings import Settings

if TYPE_CHECKING:
    from sdr_pipeline.infra.bus import Bus
    from sdr_pipeline.llm import ChatClient

__all__ = ["PROMOTION_EXPERIMENT", "Evidence", "PromotionOutcome", "PromotionRequest", "promote"]

logger = logging.getLogger(__name__)

PROMOTION_EXPERIMENT = "prompt-promotions"
"""MLflow experiment holding one run per promotion decision."""


@dataclass(frozen=True)
class PromotionRequest:
    """Which version to promote and on which evidence."""

    prompt: str
    version: str
    """The candidate's file version (`v3`)."""
    dataset: Path
    split: str | None = "test"
    limit: int | None = None
    """None: the whole split (what a real promotion should use)."""
    seed: int = 0
    policy: str | None = None
    """None: settings.router_policy, the policy the running job uses."""
    concurrency: int = 1
    force: bool = False
    """Promote even if the gate fails; recorded as forced."""


@dataclass(frozen=True)
class Evidence:
    """One side of the comparison: which version, which evaluation run, and its result."""

    role: Literal["candidate", "production", "second_floor"]
    registered: RegisteredVersion
    run_id: str
    reused: bool
    """True when an earlier evaluation run was reused instead of calling the model again."""
    result: EvalResult


@dataclass(frozen=True)
class PromotionOutcome:
    """What `promote` decided and did."""

    prompt: str
    candidate: Evidence
    production: Evidence | None
    """None when no version was in production yet."""
    second_floor: Evidence | None
    """The candidate on the gate's second dataset; None when the gate has no second floor."""
    verdict: GateVerdict
    forced: bool
    promoted: bool
    """True when the alias now points at the candidate and the control message was published."""
    decision_run_id: str


def _spec(request: PromotionRequest, prompt: RouterPrompt, settings: Settings) -> EvalSpec:
    return EvalSpec(dataset=request.dataset, split=request.split, limit=request.limit, seed=request.seed,
                    prompt=prompt.name, version=prompt.version, policy=request.policy or settings.router_policy,
                    concurrency=request.concurrency).resolved(settings)


def _evidence(role: Literal["candidate", "production", "second_floor"], registered: RegisteredVersion, prompt: RouterPrompt,
              request: PromotionRequest, settings: Settings, *, llm: ChatClient | None,
              on_progress: ProgressCallback | None) -> Evidence:
    """Reuse a matching evaluation run, or evaluate now and log the run."""
    spec = _spec(request, prompt, settings)
    match = {"dataset_sha256": dataset_sha256(spec.dataset), "prompt_hash": prompt.hash, "model": spec.model or "",
             "provider": spec.provider or "", "policy": spec.policy, "split": spec.split or "all",
             "limit": str(spec.limit) if spec.limit is not None else "all", "seed": str(spec.seed)}
    runs = find_eval_runs(settings.tracking_uri, params=match, max_results=1)
    if runs:
        stored = load_stored_eval(runs[0].info.run_id, tracking_uri=settings.tracking_uri)
        logger.info("promotion evidence for %s %s: reusing run %s", role, prompt.version, stored.run_id)
        return Evidence(role, registered, stored.run_id, True, stored.result)
    logger.info("promotion evidence for %s %s: evaluating %s", role, prompt.version, spec.dataset)
    run = run_spec(spec, settings, llm=llm, on_progress=on_progress)
    run_id = log_eval_run(run, tracking_uri=settings.tracking_uri, tags={"sdr.purpose": "promotion"})
    return Evidence(role, registered, run_id, False, run.result)


def _production_prompt(registered: RegisteredVersion, settings: Settings) -> RouterPrompt:
    prompt = load_prompt(registered.name, registered.file_version, prompts_dir=settings.prompts_dir)
    if prompt.hash != registered.template_hash:
        raise UserError(f"production points at {registered.name} {registered.file_version} (registry version "
                        f"{registered.registry_version}), but that file's text changed since it was registered",
                        fix="restore the file; prompt files must not change once used (add a new version instead)")
    return prompt


def promote(request: PromotionRequest, settings: Settings, *, gate: GateConfig, llm: ChatClient | None = None,
            bus: Bus | None = None, on_progress: ProgressCallback | None = None) -> PromotionOutcome:
    """Gate the candidate against production and, on pass or force, make it the live version."""
    registry = PromptRegistry(settings.tracking_uri)
    candidate_prompt = load_prompt(request.prompt, request.version, prompts_dir=settings.prompts_dir)
    candidate_reg = registry.find(request.prompt, candidate_prompt.version, candidate_prompt.hash)
    production_reg = registry.alias_or_none(request.prompt, PRODUCTION_ALIAS)
    if production_reg is not None and production_reg.registry_version == candidate_reg.registry_version:
        raise UserError(f"{request.prompt} {candidate_prompt.version} (registry version "
                        f"{candidate_reg.registry_version}) is already in production")

    candidate = _evidence("candidate", candidate_reg, candidate_prompt, request, settings, llm=llm,
                          on_progress=on_progress)
    production = None
    if production_reg is not None:
        production = _evidence("production", production_reg, _production_prompt(production_reg, settings), request,
                               settings, llm=llm, on_progress=on_progress)
    floor = None
    if gate.second_floor is not None:
        floor_request = replace(request, dataset=gate.second_floor.dataset, split=gate.second_floor.split,
                                limit=gate.second_floor.limit, seed=0)
        floor = _evidence("second_floor", candidate_reg, candidate_prompt, floor_request, settings, llm=llm,
                          on_progress=on_progress)
    verdict = check_promotion(candidate.result.predictions,
                              production.result.predictions if production else None, gate,
                              second_floor=floor.result.predictions if floor else None)
    promoted = verdict.passed or request.force
    if promoted:
        _switch(request.prompt, candidate_reg, production_reg, settings, bus=bus)
    decision_run_id = _record(request, candidate, production, floor, verdict, promoted, gate, settings)
    if promoted:
        registry.tag_version(request.prompt, candidate_reg.registry_version, {
            "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "promotion_run_id": decision_run_id, "promotion_forced": str(request.force and not verdict.passed).lower(),
        })
    logger.info("promotion of %s %s: gate %s, forced=%s, promoted=%s (run %s)", request.prompt,
                candidate_prompt.version, "passed" if verdict.passed else "failed", request.force, promoted,
                decision_run_id)
    return PromotionOutcome(request.prompt, candidate, production, floor, verdict, request.force, promoted,
                            decision_run_id)


def _switch(name: str, candidate: RegisteredVersion, previous: RegisteredVersion | None, settings: Settings, *,
            bus: Bus | None) -> None:
    """Move the alias, then announce the version; put the alias back if the announcement fails."""
    registry = PromptRegistry(settings.tracking_uri)
    registry.set_alias(name, PRODUCTION_ALIAS, candidate.registry_version)
    own_bus = bus is None
    try:
        if bus is None:
            from sdr_pipeline.infra.bus import KafkaBus

            bus = KafkaBus(settings.bootstrap_servers, client_id="sdr-promote")
        bus.publish(ROUTER_CONTROL, ControlMessage(prompt=name, version=candidate.file_version), key=name)
        logger.info("published %s %s to %s", name, candidate.file_version, ROUTER_CONTROL)
    except BaseException:
        if previous is not None:
            registry.set_alias(name, PRODUCTION_ALIAS, previous.registry_version)
        else:
            mlflow_client(settings.tracking_uri).delete_prompt_alias(name, PRODUCTION_ALIAS)
        raise
    finally:
        if own_bus and bus is not None and hasattr(bus, "close"):
            bus.close()


def _record(request: PromotionRequest, candidate: Evidence, production: Evidence | None, floor: Evidence | None,
            verdict: GateVerdict, promoted: bool, gate: GateConfig, settings: Settings) -> str:
    """One run in the promotions experiment: the decision, its evidence run ids, the gate figures and a figure."""
    from mlflow.entities import Metric, Param, RunTag

    from sdr_pipeline.evals.tracking import experiment_id

    client = mlflow_client(settings.tracking_uri)
    name = f"{request.prompt}-{candidate.registered.file_version}-{'promoted' if promoted else 'refused'}"
    tags = {
        KIND_TAG: "promotion",
        "gate.passed": str(verdict.passed).lower(),
        "gate.forced": str(request.force and not verdict.passed).lower(),
        "force_flag": str(request.force).lower(),
        "promoted": str(promoted).lower(),
        "failed_checks": ",".join(check.name for check in verdict.failed),
        "evidence.candidate_run_id": candidate.run_id,
        "evidence.production_run_id": production.run_id if production else "",
        "evidence.second_floor_run_id": floor.run_id if floor else "",
        "evidence.experiment": EXPERIMENT,
    }
    run = client.create_run(experiment_id(client, PROMOTION_EXPERIMENT), run_name=name, tags=tags)
    run_id = run.info.run_id
    params = {
        "prompt": request.prompt,
        "candidate_version": candidate.registered.file_version,
        "candidate_registry_version": str(candidate.registered.registry_version),
        "candidate_hash": candidate.registered.template_hash,
        "production_version": production.registered.file_version if production else "",
        "production_registry_version": str(production.registered.registry_version) if production else "",
        "dataset": str(request.dataset), "dataset_sha256": dataset_sha256(request.dataset),
        "split": request.split or "all", "limit": str(request.limit) if request.limit is not None else "all",
        "seed": str(request.seed), "policy": candidate.result.policy, "model": candidate.result.model or "",
        "gate": json.dumps(gate.model_dump(mode="json"), sort_keys=True),
    }
    metrics = {"candidate_accuracy": candidate.result.metrics.accuracy,
               "candidate_invalid_rate": candidate.result.metrics.invalid_rate,
               "candidate_cost_per_1k_messages": candidate.result.metrics.cost_per_1k_messages}
    if production is not None:
        metrics["production_accuracy"] = production.result.metrics.accuracy
    if floor is not None:
        metrics["second_floor_accuracy"] = floor.result.metrics.accuracy
    for check in verdict.checks:
        metrics[f"check_{check.name}"] = float(check.passed)
        if check.name == "no_regression" and "p_value" in check.figures:
            metrics["mcnemar_p_value"] = check.figures["p_value"]
            metrics["production_only_right"] = check.figures["production_only_right"]
            metrics["candidate_only_right"] = check.figures["candidate_only_right"]
    stamp = run.info.start_time
    client.log_batch(run_id, metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items()],
                     params=[Param(k, v) for k, v in params.items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    with tempfile.TemporaryDirectory(prefix="sdr-promotion-") as folder:
        root = Path(folder)
        (root / "gate.json").write_text(json.dumps({
            **verdict.to_dict(), "forced": request.force, "promoted": promoted,
            "candidate_run_id": candidate.run_id, "production_run_id": production.run_id if production else None,
        }, indent=2, default=str))
        save_png(promotion_figure(candidate.result, production.result if production else None),
                 root / "promotion.png")
        client.log_artifacts(run_id, str(root))
    client.set_terminated(run_id, status="FINISHED")
    return run_id
