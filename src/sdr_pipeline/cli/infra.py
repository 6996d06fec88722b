"""`sdr-pipeline infra …`: start, stop and inspect the local stack."""

from __future__ import annotations

import json
import time

import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.infra import jars, process, stack
from sdr_pipeline.infra.process import PartStatus
from sdr_pipeline.settings import Settings

app = typer.Typer(no_args_is_help=True)
console = Console()

_PARTS_HELP = "Parts to act on (default: all), e.g. kafka mlflow."


def _render(rows: list[PartStatus]) -> None:
    table = Table(title="sdr-pipeline stack")
    for column in ("part", "address", "pid", "health", "detail"):
        table.add_column(column)
    for row in rows:
        health = "[green]healthy[/]" if row.healthy else "[red]down[/]"
        table.add_row(row.name, row.address, str(row.pid or "-"), health, row.detail)
    console.print(table)


@app.command()
def fetch() -> None:
    """Download the Java jars (Kafka broker, Flink Kafka connector) into the cache, if missing."""
    settings = Settings()
    for jar_set in jars.fetch(settings):
        console.print(f"[green]✓[/] {jar_set.name} jars in {jar_set.folder}")


@app.command()
def up(parts: list[str] = typer.Argument(None, help=_PARTS_HELP)) -> None:
    """Start the stack (idempotent: running parts are left alone) and print where everything is."""
    settings = Settings()
    started = time.monotonic()
    rows = stack.up(settings, parts)
    _render(rows)
    console.print(f"stack up in {time.monotonic() - started:.1f} s · MLflow UI: {settings.tracking_uri} · "
                  f"Kafka: {settings.bootstrap_servers} · logs: {settings.logs_dir}/")


@app.command()
def down(parts: list[str] = typer.Argument(None, help=_PARTS_HELP)) -> None:
    """Stop exactly the processes `infra up` started."""
    stopped = stack.down(Settings(), parts)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="One JSON object for scripts.")) -> None:
    """Each part with its address, pid and health. Exits 1 if any part is down."""
    rows = stack.status(Settings())
    if as_json:
        typer.echo(json.dumps({"parts": [row.to_dict() for row in rows],
                               "healthy": all(row.healthy for row in rows)}, indent=2))
    else:
        _render(rows)
    if not all(row.healthy for row in rows):
        raise typer.Exit(code=1)


@app.command()
def logs(part: str = typer.Argument(..., help="kafka, mlflow, llm, smtp, agents or intake."),
         lines: int = typer.Option(40, "--lines", "-n", help="How many of the last lines to show.")) -> None:
    """Show the end of one part's log file."""
    tail = process.log_tail(Settings(), part, lines=lines)
    typer.echo(tail or f"no log for {part} yet")
