"""`sdr-pipeline eval …`: evaluate the router on a dataset file, or sweep prompt versions × models × policies."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sdr_pipeline.settings import Settings

if TYPE_CHECKING:  # the lab (pandas, scikit-learn, matplotlib) loads only when an eval command runs
    from sdr_pipeline.evals.experiment import EvalRun
    from sdr_pipeline.evals.runner import EvalResult, Prediction
    from sdr_pipeline.evals.sweep import SweepOutcome, SweepPoint, SweepReport

app = typer.Typer(no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


def _quiet_decisions() -> None:
    """One log line per routed message (or per notebook cell) drowns the progress bar; keep them for --verbose."""
    if logging.getLogger().level > logging.DEBUG:
        for chatty in ("sdr_pipeline.router", "papermill"):
            logging.getLogger(chatty).setLevel(logging.WARNING)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _metrics_table(run: EvalRun) -> Table:
    result, m = run.result, run.result.metrics
    table = Table(title=f"{result.prompt_name} {result.prompt_version} · {result.policy} · {run.spec.model} · "
                        f"{run.spec.dataset.name} [{run.spec.split or 'all'}] · {m.n} examples")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("accuracy (Wilson 95 %)", f"{m.accuracy:.3f}  [{m.accuracy_ci_low:.3f}, {m.accuracy_ci_high:.3f}]"),
        ("macro-F1", f"{m.macro_f1:.3f}"),
        ("invalid-output rate", f"{m.invalid_rate:.3f}"),
        (f"latency p50 / p95 ({m.latency_measured} uncached)",
         f"{_seconds(m.latency_p50_s)} / {_seconds(m.latency_p95_s)}"),
        ("tokens per message", f"{m.tokens_per_message:.0f}"),
        ("cost per 1,000 messages", f"US$ {m.cost_per_1k_messages:.4f}"),
        ("model calls per message", f"{m.llm_call_rate:.2f}"),
        ("answered from cache", f"{m.cached_rate:.0%}"),
        ("wall time", f"{result.wall_s:.1f} s"),
        ("dataset sha256", run.dataset_sha256[:16] + "…"),
        ("prompt hash", result.prompt_hash[:16] + "…"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _class_table(result: EvalResult) -> Table:
    table = Table(title="per class")
    for column in ("expected agent", "support", "precision", "recall"):
        table.add_column(column, justify="left" if column == "expected agent" else "right")
    frame = result.per_class()
    for label, row in frame.iterrows():
        table.add_row(str(label), str(int(row["support"])), f"{row['precision']:.3f}", f"{row['recall']:.3f}")
    return table


@app.command()
def run(
    dataset: Path = typer.Option(..., "--dataset", "-d", help="A labelled JSONL dataset file (any path)."),
    prompt: str = typer.Option("router", help="Prompt name: a folder under prompts/."),
    version: str | None = typer.Option(None, help="Prompt file version (v1, v6, latest) or an MLflow alias "
                                       "(production); default SDR_ROUTER_PROMPT_VERSION, what the job runs."),
    model: str | None = typer.Option(None, help="Model name; default SDR_LLM_MODEL."),
    provider: str | None = typer.Option(None, help="local or openai; default SDR_LLM_PROVIDER."),
    policy: str | None = typer.Option(None, help="Routing policy: llm, contract, strict or cascade; default "
                                      "SDR_ROUTER_POLICY, what the job runs."),
    split: str = typer.Option("all", help="dev, test, or all (files without splits need all)."),
    limit: int | None = typer.Option(None, help="Evaluate a seeded random sample of this many examples."),
    seed: int = typer.Option(0, help="Seed of that sample."),
    concurrency: int = typer.Option(1, help="Decisions in flight at once."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ask the model even for requests answered before."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON instead of tables."),
    track: bool = typer.Option(False, "--track", help="Also log an MLflow run (SDR_MLFLOW_TRACKING_URI)."),
    experiment: str = typer.Option("routing-evals", help="MLflow experiment for --track."),
) -> None:
    """Route every example of a dataset and print accuracy, per-class recall, latency and cost."""
    from sdr_pipeline.evals.experiment import EvalSpec, run_spec

    _quiet_decisions()
    settings = Settings()
    spec = EvalSpec(dataset=dataset, split=None if split == "all" else split, limit=limit, seed=seed, prompt=prompt,
                    version=version or settings.router_prompt_version, policy=policy or settings.router_policy,
                    provider=provider, model=model, concurrency=concurrency)
    with _progress() as progress:
        task = progress.add_task(f"routing {dataset.name}", total=None)

        def advance(done: int, total: int, prediction: Prediction) -> None:
            progress.update(task, completed=done, total=total)

        result = run_spec(spec, settings, use_cache=False if no_cache else None, on_progress=advance)
    run_id = None
    if track:
        from sdr_pipeline.evals.tracking import log_eval_run

        run_id = log_eval_run(result, tracking_uri=settings.tracking_uri, experiment=experiment)
    if as_json:
        typer.echo(json.dumps(result.record(run_id), indent=2))
        return
    console.print(_metrics_table(result))
    console.print(_class_table(result.result))
    if run_id:
        console.print(f"MLflow run {run_id} at {settings.tracking_uri}")


def _summary_table(report: SweepReport) -> Table:
    """One row per combination; model and dataset get a column only when the sweep varies them."""
    points = [outcome.point for outcome in report.outcomes]
    models = sorted({point.model for point in points})
    datasets = sorted({point.dataset.stem for point in points})
    many_models, many_datasets = len(models) > 1, len(datasets) > 1
    title = (f"sweep {report.config.name}: {len(report.outcomes)} runs in {report.wall_s:.0f} s, "
             f"{len(report.failed)} failed")
    if not many_models:
        title += f"\nmodel {models[0]}"
    if not many_datasets:
        title += f"\ndataset {datasets[0]}"
    table = Table(title=title)
    columns = ["version", "policy", *(["model"] if many_models else []), *(["dataset"] if many_datasets else []), "n",
               "accuracy [95 % CI]", "macro-F1", "invalid", "p50", "US$/1k", "time", "run"]
    numeric = {"n", "macro-F1", "invalid", "p50", "US$/1k", "time"}
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left")
    for outcome in report.outcomes:
        point = outcome.point
        head = [point.version, point.policy, *([point.model] if many_models else []),
                *([point.dataset.stem] if many_datasets else [])]
        if not outcome.ok or outcome.record is None:
            table.add_row(*head, "", "[red]failed (below)", "", "", "", "", f"{outcome.wall_s:.0f} s", "")
            continue
        m = outcome.record["metrics"]
        table.add_row(
            *head, str(outcome.record["n"]),
            f"{m['accuracy']:.3f} [{m['accuracy_ci_low']:.3f}, {m['accuracy_ci_high']:.3f}]",
            f"{m['macro_f1']:.3f}", f"{m['invalid_rate']:.3f}", _seconds(m.get("latency_p50_s")),
            f"{m['cost_per_1k_messages']:.4f}", f"{outcome.wall_s:.0f} s", (outcome.run_id or "")[:8],
        )
    return table


@app.command()
def sweep(
    path: Path = typer.Argument(..., help="A sweep file, e.g. evals/sweeps/versions_policies.yaml."),
    parallel: int | None = typer.Option(None, help="Notebooks at once (overrides the file's `parallel`)."),
    limit: int | None = typer.Option(None, help="Examples per run (overrides the file's `limit`)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ask the model even for requests answered before."),
) -> None:
    """Run evals/route_eval.ipynb for every prompt version × model × policy × dataset, logging each to MLflow."""
    from sdr_pipeline.evals.experiment import find_repo_root
    from sdr_pipeline.evals.sweep import load_sweep, run_sweep

    _quiet_decisions()
    settings = Settings()
    config = load_sweep(path)
    overrides = {key: value for key, value in (("parallel", parallel), ("limit", limit)) if value is not None}
    if no_cache:
        overrides["use_cache"] = False
    config = config.model_copy(update=overrides)
    with _progress() as progress:
        task = progress.add_task(f"sweep {config.name}", total=None)

        def started(points: list[SweepPoint]) -> None:
            progress.update(task, total=len(points))

        def finished(outcome: SweepOutcome) -> None:
            state = "ok" if outcome.ok else f"[red]failed[/]: {outcome.error}"
            progress.console.print(f"{outcome.point.slug}: {state} ({outcome.wall_s:.0f} s)")
            progress.advance(task)

        report = run_sweep(config, settings, root=find_repo_root(), on_start=started, on_done=finished)
    console.print(_summary_table(report))
    for outcome in report.failed:
        console.print(f"[red]{outcome.point.slug} failed:[/] {outcome.error} (notebook: {outcome.notebook})")
    console.print(f"executed notebooks: {report.output_dir}; leaderboard: evals/compare.ipynb "
                  f"(MLflow {settings.tracking_uri}, experiment {config.experiment})")
    if report.failed:
        raise typer.Exit(code=1)
