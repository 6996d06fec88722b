"""`sdr-pipeline deadletters list|replay`: what the pipeline set aside, and putting it back once fixed."""

from __future__ import annotations

from collections import Counter
from typing import get_args

import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.contracts.decision import DeadLetterStage
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.settings import Settings

app = typer.Typer(no_args_is_help=True, help=(
    "Messages the pipeline could not take: why, and replaying them once the cause is fixed.\n\n"
    "A passing failure (an agent, the model or SMTP down) is retried for about half an hour on its own "
    "(SDR_REDELIVERY_*); what is still failing after that lands here. Fix the cause, then replay."))
console = Console()

_STAGES = get_args(DeadLetterStage)
_STAGE_HELP = f"Only letters of this stage ({', '.join(_STAGES)}); repeat for several."
_SINCE_HELP = "Only letters since then: a span back from now (90m, 2h, 3d) or an ISO date or time (UTC)."


def _bus(settings: Settings):
    from sdr_pipeline.infra.bus import KafkaBus

    return KafkaBus(settings.bootstrap_servers, client_id="sdr-deadletters")


def _check_stages(stages: list[str]) -> list[str]:
    unknown = sorted(set(stages) - set(_STAGES))
    if unknown:
        raise UserError(f"no stage named {', '.join(unknown)}", fix=f"use one of {', '.join(_STAGES)}")
    return stages


def _read(bus, stages: list[str], since: str | None, lead: str | None, refs: list[str]):
    from sdr_pipeline.orchestrator.dead_letters import parse_since, read_letters

    letters, unreadable = read_letters(bus, stages=_check_stages(stages), since=parse_since(since) if since else None,
                                       lead_id=lead, refs=refs)
    if unreadable:
        console.print(f"[yellow]{unreadable} record(s) on dead_letters could not be read as a dead letter[/]")
    return letters


def _first_line(text: str, width: int = 140) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[:width - 1] + "…"


@app.command("list")
def list_letters(
    stage: list[str] = typer.Option([], "--stage", "-s", help=_STAGE_HELP),
    since: str = typer.Option(None, "--since", help=_SINCE_HELP),
    lead: str = typer.Option(None, "--lead", help="Only this lead's letters."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line (for jq and scripts)."),
) -> None:
    """Show the dead letters: when, where it stopped, which lead and agent, and why.

    Examples: `deadletters list --stage dispatch --since 2h`, `deadletters list --json | jq .reason`.
    """
    from sdr_pipeline.orchestrator.dead_letters import as_json_line

    settings = Settings()
    bus = _bus(settings)
    try:
        letters = _read(bus, stage, since, lead, [])
    finally:
        bus.close()
    if as_json:
        for stored in letters:
            typer.echo(as_json_line(stored))
        return
    if not letters:
        console.print("no dead letters match")
        return
    stages = Counter(stored.letter.stage for stored in letters)
    table = Table(title=f"{len(letters)} dead letter(s): " + ", ".join(f"{n} {s}" for s, n in stages.most_common()),
                  title_justify="left")
    for column in ("ref", "failed at", "stage", "lead", "message", "agent", "reason"):
        table.add_column(column, overflow="fold" if column == "reason" else "ellipsis")
    for stored in letters:
        letter = stored.letter
        table.add_row(stored.ref, letter.failed_at.strftime("%Y-%m-%d %H:%M:%S"), letter.stage, letter.lead_id or "",
                      letter.message_id or "", letter.agent or "", _first_line(letter.reason))
    console.print(table)
    console.print("replay them, once the cause is fixed, with `sdr-pipeline deadletters replay` (same filters)")


@app.command()
def replay(
    stage: list[str] = typer.Option([], "--stage", "-s", help=_STAGE_HELP),
    since: str = typer.Option(None, "--since", help=_SINCE_HELP),
    lead: str = typer.Option(None, "--lead", help="Only this lead's letters."),
    ref: list[str] = typer.Option([], "--ref", help="Only this letter (dead_letters/<partition>/<offset>, as "
                                                     "`list` shows it); repeat for several."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Show what would be replayed, replay nothing."),
    again: bool = typer.Option(False, "--again", help="Also replay letters an earlier replay already put back."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line (for jq and scripts)."),
) -> None:
    """Put dead letters back into the running routing job, once their cause is fixed.

    A dispatch failure goes back to the agent its decision named, without asking the model again;
    anything else goes back to the router with the live prompt version. A message dispatched before
    keeps its first agent, and agents answer a message they already answered with their first answer,
    so a replay sends no e-mail twice. Letters still invalid, control messages and letters already
    replayed are skipped, each with the reason.

    Examples: `deadletters replay --stage dispatch --since 1h --dry-run`, `deadletters replay --ref dead_letters/0/42`.
    """
    from sdr_pipeline.contracts.raw import RecordBounds
    from sdr_pipeline.infra.secrets import shared_secret
    from sdr_pipeline.orchestrator.dead_letters import (
        as_json_line,
        live_prompt_version,
        plan_replay,
        publish_replays,
        replayed_refs,
    )

    settings = Settings()
    secret = shared_secret(settings, "dispatch")
    bus = _bus(settings)
    try:
        letters = _read(bus, stage, since, lead, ref)
        version = live_prompt_version(bus, settings.router_prompt, settings.router_prompt_version)
        already = replayed_refs(bus)
        plans = [plan_replay(stored, secret=secret, prompt_name=settings.router_prompt, prompt_version=version,
                             bounds=RecordBounds.from_settings(settings), already=already, again=again)
                 for stored in letters]
        sent = 0 if dry_run else publish_replays(bus, plans)
    finally:
        bus.close()
    if as_json:
        for plan in plans:
            typer.echo(as_json_line(plan.stored, plan))
        return
    if not plans:
        console.print("no dead letters match: nothing to replay")
        return
    table = Table(title=f"{len(plans)} dead letter(s)" + (" — dry run, nothing replayed" if dry_run else ""),
                  title_justify="left")
    for column in ("ref", "stage", "lead", "message", "goes back to", "or why not"):
        table.add_column(column, overflow="fold" if column == "or why not" else "ellipsis")
    for plan in plans:
        letter = plan.stored.letter
        table.add_row(plan.stored.ref, letter.stage, letter.lead_id or "", letter.message_id or "", plan.goes_to,
                      plan.why_not or "")
    console.print(table)
    skipped = sum(plan.redelivery is None for plan in plans)
    verb = "would replay" if dry_run else "replayed"
    console.print(f"{verb} {len(plans) - skipped}, skipped {skipped}"
                  + ("" if dry_run else f"; follow them with `sdr-pipeline trace <lead>` (prompt {version})"))
    if not dry_run and sent != len(plans) - skipped:
        raise typer.Exit(code=1)
