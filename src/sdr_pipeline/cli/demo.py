"""`sdr-pipeline demo` and `sdr-pipeline smoke`: show the stack working."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.infra import stack
from sdr_pipeline.orchestrator.smoke_job import round_trip
from sdr_pipeline.settings import Settings

console = Console()


def smoke(records: int = typer.Option(5, "--records", "-n", min=1, help="How many messages to send through.")) -> None:
    """Prove the stack: Kafka → a PyFlink job → Kafka, and print every record that came back."""
    settings = Settings()
    started = time.monotonic()
    stack.up(settings, ["kafka"])
    broker_seconds = time.monotonic() - started
    with console.status("running the Flink round trip (the mini-cluster takes 10-15 s to start)…"):
        result = round_trip(settings, records=records)
    table = Table(title=f"Kafka → Flink → Kafka ({result.job.input_topic} → {result.job.output_topic})")
    table.add_column("sent")
    table.add_column("received")
    for sent, received in zip(result.sent, sorted(result.received), strict=False):
        table.add_row(sent, received)
    console.print(table)
    console.print(f"broker ready in {broker_seconds:.1f} s · produce {result.produce_seconds:.2f} s · "
                  f"Flink job {result.job.seconds:.1f} s")
    if not result.ok:
        console.print(f"[red]round trip incomplete:[/] missing {result.missing}")
        raise typer.Exit(code=1)
    console.print(f"[green]✓ all {records} records made the round trip[/]")
