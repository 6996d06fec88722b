"""`sdr-pipeline orchestrator run` and `sdr-pipeline trace LEAD_ID`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.infra.bus import KafkaBus
from sdr_pipeline.orchestrator.journeys import JOURNEY_TOPICS, Step, journeys, summary
from sdr_pipeline.settings import Settings

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command()
def run() -> None:
    """Run the routing job in the foreground on a local Flink mini-cluster (Ctrl-C stops it).

    In the background, with supervision, use `sdr-pipeline infra up router`. To submit the
    same job to a cluster: `flink run -py src/sdr_pipeline/orchestrator/job.py`.
    """
    from sdr_pipeline.orchestrator.job import run as run_job

    run_job(Settings())


def journey_table(lead_id: str, steps: list[Step]) -> Table:
    """One lead's journey as a table: the demo's live view and `trace` share it."""
    table = Table(title=f"lead {lead_id}: {summary(steps) or 'waiting for the router'}", title_justify="left")
    for column in ("time", "hop", "step", "agent", "detail", "latency", "tokens"):
        table.add_column(column, overflow="fold" if column == "detail" else "ellipsis")
    colours = {"decision": "cyan", "ended": "green", "limit": "yellow", "dead_letter": "red"}
    for step in steps:
        colour = colours.get(step.kind, "white")
        table.add_row(step.at[11:19], "" if step.hop is None else str(step.hop), f"[{colour}]{step.kind}[/]",
                      step.agent or "", step.detail if len(step.detail) <= 160 else step.detail[:159] + "…",
                      "" if step.latency_s is None else f"{step.latency_s:.2f} s",
                      "" if step.tokens is None else str(step.tokens))
    return table


def trace(lead_id: str = typer.Argument(..., help="The lead's id (the Kafka key).")) -> None:
    """Print one lead's whole journey from the topics: messages, decisions, events, dead letters."""
    settings = Settings()
    bus = KafkaBus(settings.bootstrap_servers, client_id="sdr-trace")
    try:
        steps = journeys(bus.read(JOURNEY_TOPICS, idle_timeout_s=2.0)).get(lead_id, [])
    finally:
        bus.close()
    if not steps:
        console.print(f"[red]no record of lead {lead_id}[/] on {', '.join(JOURNEY_TOPICS)} at {settings.bootstrap_servers}")
        raise typer.Exit(code=1)
    console.print(journey_table(lead_id, steps))


def export_sql(
    version: str = typer.Option(None, "--version", help="Prompt version (default: the routing job's start version)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the script here instead of stdout."),
    plan: bool = typer.Option(False, "--explain", help="Also have Flink parse and plan it, and print the plan."),
) -> None:
    """Write the routing step as Flink SQL: CREATE MODEL (provider openai) + ML_PREDICT, for the prompt in force."""
    from sdr_pipeline.orchestrator.sql_export import explain
    from sdr_pipeline.orchestrator.sql_export import export_sql as build
    from sdr_pipeline.registry import load_registry
    from sdr_pipeline.router import load_prompt

    settings = Settings()
    prompt = load_prompt(settings.router_prompt, version or settings.router_prompt_version, prompts_dir=settings.prompts_dir)
    export = build(settings, prompt, load_registry())
    if output is None:
        typer.echo(export.script)
    else:
        output.write_text(export.script)
        console.print(f"[green]✓[/] wrote {output} (prompt {prompt.name}/{prompt.version}, model {settings.llm_model})")
    if plan:
        console.print(explain(settings, export))
