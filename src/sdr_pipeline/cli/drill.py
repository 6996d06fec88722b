"""`sdr-pipeline drill NAME|all|list`: run fault drills against a real stack and print the verdict table."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.drills.catalogue import DRILLS, run_drill, select
from sdr_pipeline.drills.checker import Report
from sdr_pipeline.drills.stack import local_stack, scratch_stack
from sdr_pipeline.settings import Settings

console = Console()
err_console = Console(stderr=True)

_MODEL_HELP = (
    "Which model: by default each drill starts a scratch stack of its own (a real Kafka broker, SMTP, agents, "
    "intake and the Flink routing job on free ports) whose model is the stand-in "
    "(sdr_pipeline.drills.standin_model, answers in milliseconds: the drills judge the plumbing, not the prose); "
    "with --local a drill runs on the stack `sdr-pipeline infra up` started, with that stack's model."
)

_COLUMNS = ("drill", "verdict", "leads in", "bridged", "ended", "lost", "dead letters", "e-mails (mailbox/reported)",
            "duplicated", "forks", "hostile in → answered", "seconds")


def _row(report: Report) -> list[str]:
    letters = sum(len(reasons) for reasons in report.dead_letters.values())
    stages = ", ".join(f"{stage} {len(reasons)}" for stage, reasons in sorted(report.dead_letters.items()))
    hostile = "-" if not report.doors else f"{sum(sum(c.values()) for c in report.doors.values())}"
    return [report.drill, "pass" if report.passed else "FAIL", str(report.leads_in), str(report.bridged),
            str(report.ended), str(report.lost), f"{letters} ({stages})" if letters else "0",
            f"{report.emails_in_mailbox}/{report.emails_reported_sent}", str(report.duplicated), str(report.forks),
            hostile, f"{report.seconds:.0f}"]


def _details(report: Report) -> list[str]:
    lines = [f"[{report.drill}] model: {report.model}"]
    lines += [f"  note: {note}" for note in report.notes]
    for door, answers in sorted(report.doors.items()):
        lines.append(f"  door {door}: " + ", ".join(f"{label} ×{count}" for label, count in sorted(answers.items())))
    for stage, reasons in sorted(report.dead_letters.items()):
        for reason in reasons[:6]:
            lines.append(f"  dead letter ({stage}): {reason}")
        if len(reasons) > 6:
            lines.append(f"  dead letter ({stage}): … {len(reasons) - 6} more distinct reasons")
    lines += [f"  FAILED: {failure}" for failure in report.failures]
    return lines


def render(reports: list[Report], out: Console) -> None:
    """A rich table in a terminal, plain tab-separated text in a pipe (for scripts and CI logs)."""
    if out.is_terminal:
        table = Table(title="fault drills", title_justify="left")
        for column in _COLUMNS:
            table.add_column(column, overflow="fold")
        for report in reports:
            row = _row(report)
            row[1] = "[green]pass[/]" if report.passed else "[bold red]FAIL[/]"
            table.add_row(*row)
        out.print(table)
        for report in reports:
            for line in _details(report):
                out.print(line, highlight=False, markup=False)
        return
    print("\t".join(_COLUMNS))
    for report in reports:
        print("\t".join(_row(report)))
    for report in reports:
        print("\n".join(_details(report)))


def drill(
    name: str = typer.Argument(..., help="A drill's name, `all` (every fast drill) or `list`."),
    local: bool = typer.Option(False, "--local", help="Run on the local stack already up, with its own model."),
    policy: str = typer.Option("contract", help="Routing policy of the scratch stack (contract, cascade, llm, strict)."),
    slow: bool = typer.Option(False, "--slow", help="With `all`: the slow drills too (router SIGKILL)."),
    timeout: float = typer.Option(90.0, help="Seconds each drill waits for its leads to end."),
    keep_state: Path | None = typer.Option(None, help="Keep the scratch stack's state (logs, topics) in this folder."),
) -> None:
    """Run a fault against a real stack and print the verdict: leads in / bridged / ended / lost, dead letters
    by stage with reasons, e-mails in the mailbox against the delivery reports, duplicates and forks.
    Exits 1 when a promise broke.

    Drills: duplicate, double-submit, poison, inputs (fast, well under a minute each on the stand-in model);
    router-kill (slow). Model: see --local; by default the stand-in model of a scratch stack.
    """
    if name == "list":
        for item in DRILLS:
            print(f"{item.name:<14} {'slow' if item.slow else 'fast'}  {item.summary}")
        print(f"\n{_MODEL_HELP}")
        return
    chosen = select(name, slow=slow)
    settings = Settings()
    started = time.monotonic()
    if local:
        context = local_stack(settings)
    else:
        err_console.print(f"starting a scratch stack (policy {policy}, stand-in model; about 40 s)…")
        context = scratch_stack(settings, policy=policy, keep=keep_state)
    with context as stack:
        reports = [run_drill(stack, item, timeout_s=timeout) for item in chosen]
    render(reports, console)
    console.print(f"{sum(r.passed for r in reports)}/{len(reports)} drill(s) passed in "
                  f"{time.monotonic() - started:.0f} s", highlight=False)
    if not all(report.passed for report in reports):
        raise typer.Exit(code=1)


drill.__doc__ = f"{drill.__doc__}\n\n    {_MODEL_HELP}"
