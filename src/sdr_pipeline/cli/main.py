"""The `sdr-pipeline` command: one Typer group per area, errors rendered as one line."""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console
from rich.logging import RichHandler

from sdr_pipeline.exceptions import SdrPipelineError

app = typer.Typer(
    name="sdr-pipeline",
    help="Event-driven multi-agent SDR pipeline on Kafka and Flink, with a routing evaluation lab.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings reflow to the terminal's width; `code` stays readable
)
err_console = Console(stderr=True)


@app.callback()
def _configure(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug detail to stderr.")) -> None:
    """Configure logging once for every command."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
    )
    for noisy in ("kafka", "httpx", "httpx2", "urllib3", "py4j", "alembic", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # MLflow draws a progress bar per artifact download (one per reused evaluation run);
    # our commands report what they read themselves.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _register_groups() -> None:
    """Each area's Typer lives in its own module; adding an area is one line here."""
    from sdr_pipeline.cli import demo, infra

    app.add_typer(infra.app, name="infra", help="Start, stop and inspect the local Kafka, Flink, MLflow stack.")
    app.command(name="smoke")(demo.smoke)
    app.command(name="demo")(demo.demo)
    from sdr_pipeline.cli import deadletters, orchestrator
    app.add_typer(orchestrator.app, name="orchestrator", help="The Flink routing job.")
    app.add_typer(deadletters.app, name="deadletters")
    app.command(name="trace")(orchestrator.trace)
    app.command(name="export-sql")(orchestrator.export_sql)
    from sdr_pipeline.cli import llm
    app.add_typer(llm.app, name="llm", help="The local model server (llama-server), model pulls, a quick call.")
    from sdr_pipeline.cli import agents, intake
    app.add_typer(agents.app, name="agents", help="The SDR agents service, registry, contracts and outbox.")
    app.add_typer(intake.app, name="intake", help="The lead form, JSON endpoint, e-mail webhook and bridge.")
    from sdr_pipeline.cli import datasets
    app.add_typer(datasets.app, name="datasets", help="Validate, diff and harvest the labelled routing datasets.")
    from sdr_pipeline.cli import eval as eval_cli
    from sdr_pipeline.cli import prompts
    app.add_typer(eval_cli.app, name="eval", help="Evaluate routing prompts on datasets; sweep versions × models × policies.")
    app.add_typer(prompts.app, name="prompts", help="Mirror prompts into the MLflow Prompt Registry; gate and promote.")
    from sdr_pipeline.cli import review
    app.add_typer(review.app, name="review", help="Decisions too unsure to act on: list them, resolve them.")
    from sdr_pipeline.cli import drill
    app.command(name="drill")(drill.drill)
    from sdr_pipeline.cli import lab
    app.command(name="lab")(lab.lab)


_register_groups()


def main() -> None:
    """Entry point: a known error becomes one red line and exit code 1, never a traceback."""
    try:
        app()
    except SdrPipelineError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(1)
