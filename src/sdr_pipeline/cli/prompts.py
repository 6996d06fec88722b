"""`sdr-pipeline prompts …`: mirror prompt files into the MLflow Prompt Registry and promote a version."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sdr_pipeline.router import list_prompts, load_knowledge
from sdr_pipeline.settings import Settings

if TYPE_CHECKING:  # the lab and mlflow load only when a prompts command runs
    from sdr_pipeline.evals.promotion import PromotionOutcome
    from sdr_pipeline.evals.runner import Prediction

app = typer.Typer(no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


@app.command()
def register(name: str = typer.Option("router", help="Prompt name: a folder under prompts/.")) -> None:
    """Mirror prompts/NAME/v*.yaml into the MLflow Prompt Registry (a new registry version only for changed files)."""
    from sdr_pipeline.evals.prompt_registry import PromptRegistry

    settings = Settings()
    prompts = list_prompts(name, prompts_dir=settings.prompts_dir)
    pool, _ = load_knowledge(settings, policy="llm", prompts=prompts)
    outcomes = PromptRegistry(settings.tracking_uri).sync(prompts, pool_hash=pool.hash if pool else None)
    table = Table(title=f"prompt '{name}' in {settings.tracking_uri}")
    for column in ("file", "registry version", "status", "template hash"):
        table.add_column(column)
    colours = {"registered": "green", "changed": "yellow", "unchanged": "dim"}
    for outcome in outcomes:
        table.add_row(outcome.file_version, str(outcome.registry_version),
                      f"[{colours[outcome.status]}]{outcome.status}[/]", outcome.template_hash[:16])
    console.print(table)


@app.command(name="list")
def list_versions(name: str = typer.Option("router", help="Prompt name.")) -> None:
    """Show the registry versions of a prompt, the file each mirrors, and their aliases."""
    from sdr_pipeline.evals.prompt_registry import PromptRegistry

    settings = Settings()
    versions = PromptRegistry(settings.tracking_uri).versions(name)
    files = {prompt.version: prompt for prompt in list_prompts(name, prompts_dir=settings.prompts_dir)}
    table = Table(title=f"prompt '{name}' in {settings.tracking_uri}")
    for column in ("version", "file", "aliases", "hash", "registered", "description"):
        table.add_column(column)
    for version in versions:
        current = files.get(version.file_version)
        changed = current is not None and current.hash != version.template_hash
        created = datetime.fromtimestamp(version.created_ms / 1000, tz=UTC).strftime("%Y-%m-%d")
        aliases = f"[bold green]{', '.join(version.aliases)}[/]" if version.aliases else ""
        digest = version.template_hash[:8] + (" [yellow](file changed since)[/]" if changed else "")
        summary = version.description if len(version.description) <= 40 else version.description[:39] + "…"
        table.add_row(str(version.registry_version), version.file_version, aliases, digest, created, summary)
    console.print(table)
    unregistered = sorted(set(files) - {version.file_version for version in versions})
    if unregistered:
        console.print(f"not registered yet: {', '.join(unregistered)} — run `sdr-pipeline prompts register`")


def _render(outcome: PromotionOutcome) -> None:
    against = f" vs production {outcome.production.registered.file_version}" if outcome.production else ""
    table = Table(title=f"gate for {outcome.prompt} {outcome.candidate.registered.file_version}{against}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("figures")
    for check in outcome.verdict.checks:
        table.add_row(check.name, "[green]pass[/]" if check.passed else "[bold red]FAIL[/]", check.detail)
    console.print(table)
    for evidence in filter(None, (outcome.candidate, outcome.production, outcome.second_floor)):
        source = "reused run" if evidence.reused else "new run"
        console.print(f"{evidence.role} {evidence.registered.file_version}: {source} {evidence.run_id}, accuracy "
                      f"{evidence.result.metrics.accuracy:.3f} on {evidence.result.metrics.n} examples")
    if outcome.promoted:
        forced = " [yellow](forced past a failing gate)[/]" if outcome.forced and not outcome.verdict.passed else ""
        console.print(f"[bold green]promoted[/] {outcome.prompt} {outcome.candidate.registered.file_version}{forced}: "
                      f"alias production -> registry version {outcome.candidate.registered.registry_version}, "
                      f"announced on router_control; decision run {outcome.decision_run_id}")
    else:
        failed = ", ".join(check.name for check in outcome.verdict.failed)
        console.print(f"[bold red]refused[/]: {failed} failed; nothing changed "
                      f"(decision run {outcome.decision_run_id})")


@app.command()
def promote(
    name: str = typer.Argument(..., help="Prompt name, e.g. router."),
    version: str = typer.Argument(..., help="Candidate file version, e.g. v3."),
    dataset: Path = typer.Option(Path("datasets/field_v1.jsonl"), help="Labelled dataset holding the test split (default: the hand-written field set)."),
    split: str = typer.Option("test", help="Split both versions are evaluated on."),
    limit: int | None = typer.Option(None, help="A seeded sample of the split (a real promotion uses all of it)."),
    seed: int = typer.Option(0, help="Seed of that sample."),
    policy: str | None = typer.Option(None, help="Routing policy; default SDR_ROUTER_POLICY (the running job's)."),
    gate: Path = typer.Option(Path("evals/gate.yaml"), help="Gate values."),
    concurrency: int = typer.Option(1, help="Decisions in flight at once when evaluating."),
    force: bool = typer.Option(False, "--force", help="Promote even if the gate fails (recorded as forced)."),
) -> None:
    """Evaluate VERSION against the production alias on the test split; promote it only if the gate passes."""
    from sdr_pipeline.evals.gate import load_gate_config
    from sdr_pipeline.evals.promotion import PromotionRequest
    from sdr_pipeline.evals.promotion import promote as promote_version

    if logging.getLogger().level > logging.DEBUG:  # one line per routed message would drown the progress bar
        logging.getLogger("sdr_pipeline.router").setLevel(logging.WARNING)
    settings = Settings()
    request = PromotionRequest(prompt=name, version=version, dataset=dataset, split=None if split == "all" else split,
                               limit=limit, seed=seed, policy=policy, concurrency=concurrency, force=force)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("evaluating", total=None)

        def advance(done: int, total: int, prediction: Prediction) -> None:
            progress.update(task, completed=done, total=total)

        outcome = promote_version(request, settings, gate=load_gate_config(gate), on_progress=advance)
    _render(outcome)
    if not outcome.promoted:
        raise typer.Exit(code=1)
