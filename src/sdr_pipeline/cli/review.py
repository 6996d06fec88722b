"""`sdr-pipeline review …`: the decisions the router was too unsure to act on, and a person's answer."""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.settings import Settings

app = typer.Typer(no_args_is_help=True)
console = Console()


def _bus(settings: Settings):
    from sdr_pipeline.infra.bus import KafkaBus

    return KafkaBus(settings.bootstrap_servers, client_id="sdr-review")


@app.command("list")
def list_pending() -> None:
    """Show every decision waiting on needs_review: the message, the candidates and their confidences."""
    from sdr_pipeline.orchestrator.review import pending

    settings = Settings()
    bus = _bus(settings)
    try:
        waiting = pending(bus, settings)
    finally:
        bus.close()
    if not waiting:
        console.print("nothing waits for review")
        return
    table = Table(title=f"{len(waiting)} decision(s) waiting for review")
    for column in ("message id", "lead", "from", "router's pick", "candidates", "gist"):
        table.add_column(column, overflow="fold")
    for item in waiting:
        decision, envelope = item.task.decision, item.task.envelope
        context = envelope.context if isinstance(envelope.context, str) else str(envelope.context or "")
        table.add_row(item.message_id, envelope.lead_id, envelope.produced_by,
                      f"{decision.agent} ({decision.confidence:.2f})",
                      ", ".join(f"{name} {score:.2f}" for name, score in decision.scores.items()),
                      context[:120])
    console.print(table)


@app.command()
def resolve(
    message_id: str = typer.Argument(..., help="The message id, as `review list` shows it."),
    agent: str = typer.Argument(..., help="The agent that should take it, or none to end the lead."),
    note: str = typer.Option("", help="Why: kept with the labelled example."),
    reviewer: str = typer.Option(None, help="Who decided; default: your user name."),
) -> None:
    """Route a waiting message on with AGENT (signed with SDR_REVIEW_SECRET) and keep it as a labelled example."""
    from sdr_pipeline.orchestrator.review import resolve as resolve_message
    from sdr_pipeline.orchestrator.review import resolved_path

    settings = Settings()
    bus = _bus(settings)
    try:
        resolve_message(bus, settings, message_id=message_id, agent=agent, reviewer=reviewer or getpass.getuser(),
                        note=note)
    finally:
        bus.close()
    console.print(f"routed {message_id} to {agent}; labelled example kept in {resolved_path(settings)}")
