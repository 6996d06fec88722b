"""One evaluation as data: which dataset slice, prompt version, policy and model — and running it.

The notebook (`evals/route_eval.ipynb`), `sdr-pipeline eval run` and the promotion gate
all describe an evaluation as an `EvalSpec` and call `run_spec`, so they measure the same
thing the same way. `EvalRun.params()` is what an MLflow run records to make it
reproducible: dataset sha256, prompt hash, model, policy, split, limit and seed.
"""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdr_pipeline.evals.datasets import Example, dataset_sha256, load_dataset
from sdr_pipeline.evals.runner import EvalResult, ProgressCallback, evaluate
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.registry import NONE_AGENT, load_registry
from sdr_pipeline.router import POLICIES, RouterPrompt, load_knowledge, load_prompt
from sdr_pipeline.settings import Settings

if TYPE_CHECKING:
    from sdr_pipeline.llm import ChatClient
    from sdr_pipeline.llm.testing import ScriptedLLM

__all__ = ["EvalRun", "EvalSpec", "find_repo_root", "lab_settings", "resolve_prompt", "run_spec", "scripted_llm",
           "select_examples", "write_record"]

logger = logging.getLogger(__name__)

_FILE_VERSION = re.compile(r"^(v?\d+|latest)$", re.IGNORECASE)


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate; every field ends up as an MLflow param."""

    dataset: Path
    """A labelled JSONL file (any path: the lab is not limited to the repo's datasets)."""
    split: str | None = "test"
    """`dev`, `test`, or None for the whole file."""
    limit: int | None = None
    """Evaluate a seeded random sample of this many examples (None: all of them)."""
    seed: int = 0
    """Seed of the sample; the same seed picks the same examples."""
    prompt: str = "router"
    version: str = "latest"
    """A file version (`v2`, `latest`) or an MLflow alias such as `production`."""
    policy: str = "contract"
    provider: str | None = None
    """`local` or `openai`; None: settings.llm_provider."""
    model: str | None = None
    """None: settings.llm_model."""
    concurrency: int = 1
    """Decisions in flight at once (threads); the local 2-core server serves 2."""

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise UserError(f"unknown routing policy '{self.policy}'", fix=f"use one of {', '.join(POLICIES)}")
        if self.limit is not None and self.limit < 1:
            raise UserError(f"limit must be at least 1, got {self.limit}", fix="omit it to evaluate every example")
        if self.concurrency < 1:
            raise UserError(f"concurrency must be at least 1, got {self.concurrency}")

    def resolved(self, settings: Settings) -> EvalSpec:
        """This spec with provider and model filled in from `settings` where left open."""
        return replace(self, provider=self.provider or settings.llm_provider, model=self.model or settings.llm_model)

    def llm_settings(self, settings: Settings) -> Settings:
        """`settings` with this spec's provider and model."""
        spec = self.resolved(settings)
        return settings.model_copy(update={"llm_provider": spec.provider, "llm_model": spec.model})


@dataclass(frozen=True)
class EvalRun:
    """A finished evaluation with what it took to reproduce it."""

    spec: EvalSpec
    result: EvalResult
    prompt: RouterPrompt
    dataset_sha256: str
    examples: int
    """Examples in the evaluated slice (after split and limit)."""

    def params(self) -> dict[str, str]:
        """MLflow params of the run (strings; `limit` is `all` when the whole split was used)."""
        spec = self.spec
        return {
            "prompt_name": self.prompt.name,
            "prompt_version": self.prompt.version,
            "prompt_hash": self.prompt.hash,
            "requested_version": spec.version,
            "provider": spec.provider or "",
            "model": spec.model or "",
            "reported_model": self.result.model or "",
            "policy": spec.policy,
            "dataset": str(spec.dataset),
            "dataset_name": spec.dataset.stem,
            "dataset_sha256": self.dataset_sha256,
            "split": spec.split or "all",
            "limit": str(spec.limit) if spec.limit is not None else "all",
            "seed": str(spec.seed),
            "concurrency": str(spec.concurrency),
            "examples": str(self.examples),
        }

    def record(self, run_id: str | None = None) -> dict[str, Any]:
        """A small JSON results record: what the notebook leaves behind for tests and sweeps."""
        return {"run_id": run_id, "params": self.params(), **self.result.summary()}


def find_repo_root(start: Path | None = None) -> Path:
    """The checkout holding `prompts/` and `datasets/`, searching upwards from `start` (default: cwd)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "prompts").is_dir() and (folder / "datasets").is_dir():
            return folder
    raise UserError(f"no sdr-pipeline checkout above {here}", fix="run from the repository or pass absolute paths")


def select_examples(examples: list[Example], *, limit: int | None, seed: int) -> list[Example]:
    """A seeded random sample of `limit` examples, kept in file order (all of them when limit is None)."""
    if limit is None or limit >= len(examples):
        return list(examples)
    chosen = set(random.Random(seed).sample(range(len(examples)), limit))
    return [example for index, example in enumerate(examples) if index in chosen]


def resolve_prompt(spec: EvalSpec, settings: Settings) -> RouterPrompt:
    """The prompt file the spec names; an alias (`production`) is looked up in the MLflow Prompt Registry."""
    if _FILE_VERSION.match(spec.version):
        return load_prompt(spec.prompt, spec.version, prompts_dir=settings.prompts_dir)
    from sdr_pipeline.evals.prompt_registry import PromptRegistry

    registered = PromptRegistry(settings.tracking_uri).by_alias(spec.prompt, spec.version)
    prompt = load_prompt(spec.prompt, registered.file_version, prompts_dir=settings.prompts_dir)
    if prompt.hash != registered.template_hash:
        raise UserError(
            f"alias '{spec.version}' of prompt '{spec.prompt}' points at {registered.file_version} with hash "
            f"{registered.template_hash[:12]}, but {prompt.path} now hashes to {prompt.hash[:12]}",
            fix="prompt files must not change once registered; add a new version file instead",
        )
    return prompt


def run_spec(spec: EvalSpec, settings: Settings, *, llm: ChatClient | None = None, use_cache: bool | None = None,
             on_progress: ProgressCallback | None = None) -> EvalRun:
    """Load the slice and the prompt, build the client (unless given) and evaluate."""
    spec = spec.resolved(settings)
    examples = select_examples(load_dataset(spec.dataset, split=spec.split), limit=spec.limit, seed=spec.seed)
    prompt = resolve_prompt(spec, settings)
    if llm is None:
        from sdr_pipeline.llm import make_client

        llm = make_client(spec.llm_settings(settings), use_cache=use_cache)
    pool, cascade = load_knowledge(settings, policy=spec.policy, prompts=[prompt])
    result = evaluate(examples, prompt=prompt, policy=spec.policy, llm=llm, registry=load_registry(),  # type: ignore[arg-type]
                      concurrency=spec.concurrency, on_progress=on_progress,
                      answer_attempts=settings.router_answer_attempts, pool=pool, cascade=cascade)
    return EvalRun(spec=spec, result=result, prompt=prompt, dataset_sha256=dataset_sha256(spec.dataset),
                   examples=len(examples))


def scripted_llm(*, agent: str = NONE_AGENT, answers: int = 100_000) -> ScriptedLLM:
    """A scripted client that always answers `agent` (dry runs of notebooks and sweeps without a model).

    `none` is allowed under every policy, so every answer is valid; another agent is
    refused (and re-asked) where the contract policy has ruled it out for the message.
    """
    from sdr_pipeline.llm.testing import ScriptedLLM

    answer = {"agent": agent, "confidence": 0.5, "reason": "scripted answer"}
    return ScriptedLLM([answer] * answers, model="scripted")


def lab_settings(root: Path, *, tracking_uri: str | None = None, llm_base_url: str | None = None,
                 cache_dir: str | Path | None = None) -> Settings:
    """Settings for a notebook run: the checkout's prompts, plus what the caller (a sweep, a test) passed in.

    A papermill kernel cannot receive a Settings object, so sweeps hand over the few
    values that differ from the environment's as notebook parameters.
    """
    overrides: dict[str, Any] = {"prompts_dir": root / "prompts"}
    pool = Settings.model_fields["router_example_pool"].default  # the checkout's files, wherever the kernel runs
    overrides["router_example_pool"] = tuple(path if path.is_absolute() else root / path for path in pool)
    if tracking_uri:
        overrides["mlflow_tracking_uri"] = tracking_uri
    if llm_base_url:
        overrides["llm_base_url"] = llm_base_url
    if cache_dir:
        overrides["cache_dir"] = Path(cache_dir)
    return Settings(**overrides)


def write_record(path: Path | str, run: EvalRun, run_id: str | None) -> Path:
    """Write `run.record(run_id)` as JSON to `path` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.record(run_id), indent=2, sort_keys=True), encoding="utf-8")
    return path
