"""Sweeps: run the evaluation notebook for every prompt version × model × policy × dataset.

A sweep file (evals/sweeps/NAME.yaml) lists the axes; each combination is one papermill
execution of `evals/route_eval.ipynb`, which logs one MLflow run tagged with the sweep's
name. The executed notebook is written under `output_dir` (git-ignored) and attached to
its run. `parallel` combinations run at once: keep 1 for the local 2-core model (the
server already uses both cores), raise it for a hosted endpoint.

papermill is imported only here, when a sweep runs.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sdr_pipeline.evals.tracking import EXPERIMENT, attach_notebook
from sdr_pipeline.exceptions import InfraError, UserError
from sdr_pipeline.router import POLICIES
from sdr_pipeline.settings import Settings
from sdr_pipeline.yaml_files import load_yaml_model

__all__ = ["DEFAULT_NOTEBOOK", "SweepConfig", "SweepOutcome", "SweepPoint", "SweepReport", "execute_eval_notebook",
           "load_sweep", "plan", "run_sweep"]

logger = logging.getLogger(__name__)

DEFAULT_NOTEBOOK = Path("evals/route_eval.ipynb")
_KERNEL = "python3"
_QUIET_KERNEL = ["--IPKernelApp.log_level=ERROR"]
"""The kernel's start-up warning about its local TCP transport would repeat once per run."""


class SweepConfig(BaseModel):
    """A sweep file: the axes to combine and what every run shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_\-]+$")
    """Tags every run (`sdr.sweep`) and names the output folder."""
    description: str = ""
    prompt: str = "router"
    versions: list[str] = Field(min_length=1)
    """Prompt file versions (`v1`, `latest`)."""
    models: list[str] = Field(default_factory=list)
    """Model names; empty means settings.llm_model."""
    policies: list[str] = Field(default_factory=lambda: ["contract"], min_length=1)
    datasets: list[Path] = Field(min_length=1)
    """Dataset files, relative to the repository root or absolute."""
    provider: str | None = None
    """None: settings.llm_provider."""
    split: str | None = "test"
    limit: int | None = None
    seed: int = 0
    concurrency: int = Field(1, ge=1)
    """Decisions in flight inside one notebook."""
    parallel: int = Field(1, ge=1)
    """Notebooks executing at once."""
    use_cache: bool = True
    experiment: str = EXPERIMENT
    notebook: Path = DEFAULT_NOTEBOOK
    output_dir: Path = Path("evals/output")
    scripted: bool = False
    """Dry run: a scripted client answers `none` instead of a model (plumbing checks)."""

    @field_validator("policies")
    @classmethod
    def _known_policies(cls, policies: list[str]) -> list[str]:
        unknown = [policy for policy in policies if policy not in POLICIES]
        if unknown:
            raise ValueError(f"unknown policies {unknown}; use {list(POLICIES)}")
        return policies


def load_sweep(path: Path | str) -> SweepConfig:
    """Read and validate a sweep file; errors name the field."""
    path = Path(path)
    return load_yaml_model(SweepConfig, path, what="sweep", fix="see evals/sweeps/ for examples",
                           defaults={"name": path.stem})


@dataclass(frozen=True)
class SweepPoint:
    """One combination of the sweep's axes."""

    version: str
    model: str
    policy: str
    dataset: Path

    @property
    def slug(self) -> str:
        """File-name-safe name: `v2-contract-qwen2.5-coder-1.5b-routing_v1`."""
        raw = f"{self.version}-{self.policy}-{self.model}-{self.dataset.stem}"
        return re.sub(r"[^A-Za-z0-9_.\-]+", "_", raw)


def plan(config: SweepConfig, settings: Settings) -> list[SweepPoint]:
    """Every combination, in a stable order (version, model, policy, dataset)."""
    models = config.models or [settings.llm_model]
    return [SweepPoint(version, model, policy, Path(dataset))
            for version, model, policy, dataset in itertools.product(config.versions, models, config.policies,
                                                                     config.datasets)]


@dataclass(frozen=True)
class SweepOutcome:
    """One executed combination."""

    point: SweepPoint
    ok: bool
    run_id: str | None
    record: dict[str, Any] | None
    """The notebook's results record (metrics and params), None if it failed."""
    notebook: Path
    wall_s: float
    error: str = ""


@dataclass(frozen=True)
class SweepReport:
    """Every outcome of a sweep and how long it took."""

    config: SweepConfig
    outcomes: tuple[SweepOutcome, ...]
    wall_s: float
    output_dir: Path

    @property
    def failed(self) -> tuple[SweepOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.ok)


def execute_eval_notebook(parameters: dict[str, Any], *, notebook: Path, output: Path, tracking_uri: str | None,
                          cwd: Path) -> dict[str, Any]:
    """Run the evaluation notebook with papermill, read its results record, attach the notebook to its run."""
    try:
        import papermill
    except ImportError as error:  # pragma: no cover - papermill is in the lock
        raise UserError("papermill is not installed", fix="install the project's locked requirements") from error
    output.parent.mkdir(parents=True, exist_ok=True)
    results_path = output.with_suffix(".json")
    results_path.unlink(missing_ok=True)
    papermill.execute_notebook(str(notebook), str(output), parameters={**parameters, "results_path": str(results_path)},
                               kernel_name=_KERNEL, cwd=str(cwd), progress_bar=False, log_output=False,
                               extra_arguments=_QUIET_KERNEL)
    record = json.loads(results_path.read_text(encoding="utf-8"))
    if tracking_uri and record.get("run_id"):
        attach_notebook(record["run_id"], output, tracking_uri=tracking_uri)
    return record


def _check_local_models(points: list[SweepPoint], settings: Settings, provider: str) -> None:
    """Our local llama-server serves one model: refuse a sweep over models it does not serve."""
    if provider != "local" or settings.llm_base_url is not None:
        return
    from sdr_pipeline.llm.server import served_model

    wanted = sorted({point.model for point in points})
    served = served_model(settings)
    if served is None:
        raise InfraError("llama-server", f"no model answers on {settings.llm_endpoint}",
                         fix=f"start it: sdr-pipeline llm serve --model {wanted[0]}")
    if wanted != [served]:
        raise UserError(f"the local llama-server serves {served}, but the sweep asks for {', '.join(wanted)}",
                        fix="sweep one local model at a time (serve it with `sdr-pipeline llm serve --model NAME`)")


def run_sweep(config: SweepConfig, settings: Settings, *, root: Path,
              on_done: Callable[[SweepOutcome], None] | None = None,
              on_start: Callable[[list[SweepPoint]], None] | None = None) -> SweepReport:
    """Execute every combination (`parallel` at a time); a failed combination is reported, not fatal."""
    points = plan(config, settings)
    provider = config.provider or settings.llm_provider
    if not config.scripted:
        _check_local_models(points, settings, provider)
    notebook = config.notebook if config.notebook.is_absolute() else root / config.notebook
    output_dir = (config.output_dir if config.output_dir.is_absolute() else root / config.output_dir) / config.name
    if on_start is not None:
        on_start(points)
    started = time.perf_counter()

    def execute(point: SweepPoint) -> SweepOutcome:
        output = output_dir / f"{point.slug}.ipynb"
        dataset = point.dataset if point.dataset.is_absolute() else root / point.dataset
        parameters = {
            "prompt": config.prompt, "version": point.version, "provider": provider, "model": point.model,
            "llm_base_url": settings.llm_endpoint, "policy": point.policy, "dataset": str(dataset),
            "split": config.split, "limit": config.limit, "seed": config.seed, "concurrency": config.concurrency,
            "use_cache": config.use_cache, "cache_dir": str(settings.cache_dir), "tracking_uri": settings.tracking_uri,
            "experiment": config.experiment, "sweep": config.name, "scripted": config.scripted, "track": True,
        }
        began = time.perf_counter()
        try:
            record = execute_eval_notebook(parameters, notebook=notebook, output=output,
                                           tracking_uri=settings.tracking_uri, cwd=root)
        except Exception as error:  # noqa: BLE001 - a failed point is reported with its reason; the sweep goes on
            reason = str(error).strip().splitlines()
            logger.warning("sweep %s point %s failed: %s", config.name, point.slug, reason[-1] if reason else error)
            return SweepOutcome(point, False, None, None, output, time.perf_counter() - began,
                                error=reason[-1] if reason else type(error).__name__)
        return SweepOutcome(point, True, record.get("run_id"), record, output, time.perf_counter() - began)

    outcomes: dict[SweepPoint, SweepOutcome] = {}
    with ThreadPoolExecutor(max_workers=config.parallel, thread_name_prefix="sweep") as pool:
        futures = [pool.submit(execute, point) for point in points]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.point] = outcome
            if on_done is not None:
                on_done(outcome)
    report = SweepReport(config, tuple(outcomes[point] for point in points), time.perf_counter() - started, output_dir)
    logger.info("sweep %s: %d points, %d failed, %.1f s", config.name, len(points), len(report.failed), report.wall_s)
    return report
