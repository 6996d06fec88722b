"""`sdr-pipeline demo` and `sdr-pipeline smoke`: show the stack working."""

from __future__ import annotations

import time

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from sdr_pipeline.cli import _stack
from sdr_pipeline.cli.orchestrator import journey_table
from sdr_pipeline.infra import stack
from sdr_pipeline.infra.smtp import mailbox_dir, read_mailbox
from sdr_pipeline.orchestrator import demo as traffic
from sdr_pipeline.orchestrator.journeys import Step
from sdr_pipeline.orchestrator.smoke_job import round_trip
from sdr_pipeline.settings import Settings

console = Console()


def smoke(records: int = typer.Option(5, "--records", "-n", min=1, help="How many messages to send through.")) -> None:
    """Prove the stack: Kafka → a PyFlink job → Kafka, and print every record that came back."""
    settings = Settings()
    started = time.monotonic()
    stack.up(settings, _stack.INFRA, ["kafka"])
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


def demo(
    replies: bool = typer.Option(True, help="After the first workflows end, send two prospect replies."),
    timeout: float = typer.Option(1200.0, help="Seconds to wait for every workflow to end."),
) -> None:
    """The AI SDR team end to end: start the stack, submit leads, watch each lead's journey live."""
    settings = Settings()
    with console.status("starting Kafka, MLflow, SMTP, llama-server, agents, intake and the routing job…"):
        stack.up(settings, _stack.ALL)
    console.print("[green]✓ stack up[/] — submitting leads through the intake service")
    tag = traffic.demo_run_tag()
    submitted = traffic.submit_leads(settings, tag=tag)
    labels = {s.lead_id: s.label for s in submitted}

    def render(by_lead: dict[str, list[Step]]) -> Group:
        return Group(*(journey_table(f"{lead} · {labels[lead]}", by_lead.get(lead, [])) for lead in labels))

    with Live(render({}), console=console, refresh_per_second=2) as live:
        final = traffic.follow(settings, list(labels), timeout_s=timeout, on_update=lambda by: live.update(render(by)))
        if replies:
            seen = {lead: len(steps) for lead, steps in final.items()}
            replied = traffic.submit_replies(settings, tag=tag)
            for reply in replied:
                labels[reply.lead_id] = f"{labels.get(reply.lead_id, '')} + {reply.label}"
            final = traffic.follow(settings, list(labels), wait_for=[reply.lead_id for reply in replied],
                                   since_steps=seen, timeout_s=timeout, on_update=lambda by: live.update(render(by)))
    mails = read_mailbox(settings)
    console.print(f"\n[bold]{len(mails)} e-mail(s)[/] in the local SMTP mailbox ({mailbox_dir(settings)})")
    for mail in mails[-5:]:
        console.print(f"  → {mail['To']}: {mail['Subject']}")
    console.print(
        "\n[bold]Where to look next[/]\n"
        f"  one lead's journey      sdr-pipeline trace {next(iter(labels))}\n"
        f"  the stack               sdr-pipeline infra status   (logs: {settings.logs_dir}/)\n"
        f"  MLflow                  {settings.tracking_uri}\n"
        f"  topics                  agent_messages, routing_decisions, workflow_events, dead_letters on "
        f"{settings.bootstrap_servers}\n"
        "  stop everything         sdr-pipeline infra down"
    )
