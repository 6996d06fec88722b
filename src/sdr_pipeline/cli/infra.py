"""`sdr-pipeline infra …`: start, stop and inspect the local stack."""

from __future__ import annotations

import json
import time

import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.cli import _stack
from sdr_pipeline.infra import flink_cluster, jars, process, stack
from sdr_pipeline.infra.process import PartStatus
from sdr_pipeline.settings import Settings

app = typer.Typer(no_args_is_help=True)
console = Console()

_PARTS_HELP = "Parts to act on (default: kafka mlflow smtp llm), e.g. kafka mlflow, or lab (JupyterLab)."


def _render(rows: list[PartStatus]) -> None:
    table = Table(title="sdr-pipeline stack")
    for column in ("part", "address", "pid", "health", "detail"):
        table.add_column(column)
    for row in rows:
        health = "[green]healthy[/]" if row.healthy else "[red]down[/]"
        table.add_row(row.name, row.address, str(row.pid or "-"), health, row.detail)
    console.print(table)


def _all_status(settings: Settings) -> list[PartStatus]:
    rows = [*stack.status(settings, _stack.ALL), stack.flink_status(settings)]
    if settings.flink_mode == "cluster":  # the routing job as the cluster's REST API sees it
        rows.append(flink_cluster.status_row(settings))
    return rows


@app.command()
def fetch() -> None:
    """Download the Java jars (Kafka broker, Flink Kafka connector) into the cache, if missing."""
    settings = Settings()
    for jar_set in jars.fetch(settings):
        console.print(f"[green]✓[/] {jar_set.name} jars in {jar_set.folder}")


@app.command()
def topics() -> None:
    """Create the declared topics (contracts/topics.py) on the configured broker, if missing."""
    from sdr_pipeline.contracts.topics import TOPICS
    from sdr_pipeline.infra.bus import ensure_topics, topic_replication

    settings = Settings()
    created = ensure_topics(settings.bootstrap_servers, TOPICS, replication_factor=settings.kafka_replication_factor,
                            min_insync_replicas=settings.kafka_min_insync_replicas)
    described = topic_replication(settings.bootstrap_servers, [spec.name for spec in TOPICS])
    replication = {topic.name: topic for topic in described}
    for spec in TOPICS:
        mark = "[green]created[/]" if spec.name in created else "exists"
        topic = replication.get(spec.name)
        copies = (f"{len(topic.partitions[0].replicas)} replicas, min.insync {topic.min_insync_replicas}"
                  + (" [red]under-replicated[/]" if topic.under_replicated else "")) if topic else "-"
        console.print(f"{spec.name:<20} {spec.partitions} partitions  {copies}  {mark}  {spec.purpose}")


@app.command()
def up(parts: list[str] = typer.Argument(None, help=_PARTS_HELP)) -> None:
    """Start the stack (idempotent: running parts are left alone) and print where everything is."""
    settings = Settings()
    started = time.monotonic()
    stack.up(settings, _stack.ALL if parts else _stack.INFRA, parts)
    _render(_all_status(settings))
    flink = f" · Flink UI: {flink_cluster.rest_url(settings)}" if settings.flink_mode == "cluster" else ""
    console.print(f"stack up in {time.monotonic() - started:.1f} s · MLflow UI: {settings.tracking_uri}{flink} · "
                  f"Kafka: {settings.bootstrap_servers} · logs: {settings.logs_dir}/")


@app.command()
def down(parts: list[str] = typer.Argument(None, help=_PARTS_HELP)) -> None:
    """Stop exactly the processes `infra up` started."""
    stopped = stack.down(Settings(), _stack.ALL, parts)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="One JSON object for scripts.")) -> None:
    """Each part with its address, pid and health. Exits 1 if an infrastructure part is down."""
    settings = Settings()
    rows = _all_status(settings)
    infra_names = stack.process_names(settings, _stack.INFRA) | {"flink"}
    healthy = all(row.healthy for row in rows if row.name in infra_names)
    if as_json:
        typer.echo(json.dumps({"parts": [row.to_dict() for row in rows], "healthy": healthy}, indent=2))
    else:
        _render(rows)
    if not healthy:
        raise typer.Exit(code=1)


@app.command()
def logs(part: str = typer.Argument(..., help="kafka (kafka-2, kafka-3 with three brokers), mlflow, smtp, "
                                                 "llama-server, agents, intake, router or lab; jobmanager, "
                                                 "taskmanager-1, taskmanager-2 on the Flink session cluster."),
         lines: int = typer.Option(40, "--lines", "-n", help="How many of the last lines to show.")) -> None:
    """Show the end of one part's log file."""
    tail = process.log_tail(Settings(), part, lines=lines)
    typer.echo(tail or f"no log for {part} yet")
