"""`sdr-pipeline agents …`: serve the agents, list the registry, export contracts, inspect the outbox."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.exceptions import UserError
from sdr_pipeline.settings import Settings

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command()
def serve() -> None:
    """Serve every registry agent (FastAPI + uvicorn) on SDR_AGENTS_HOST:SDR_AGENTS_PORT."""
    from sdr_pipeline.agents.service import serve as serve_agents

    serve_agents(Settings())


@app.command(name="list")
def list_agents(registry: Path = typer.Option(None, help="A registry YAML file (default: the packaged one).")) -> None:
    """The agent registry: name, contracts, endpoint, limits."""
    from sdr_pipeline.registry import load_registry

    loaded = load_registry(registry)
    table = Table(title=f"agent registry ({loaded.source})")
    for column in ("agent", "input contract", "output contract", "endpoint", "timeout s", "attempts"):
        table.add_column(column)
    for spec in loaded.agents:
        table.add_row(spec.name, spec.input_contract, spec.output_contract, spec.endpoint, f"{spec.timeout_s:g}",
                      str(spec.max_attempts))
    console.print(table)


@app.command()
def schemas(
    check: bool = typer.Option(False, "--check", help="Only report stale files; exit 1 if any."),
    directory: Path = typer.Option(None, help="Where to write (default: src/sdr_pipeline/contracts/schemas)."),
) -> None:
    """Export every contract as a versioned JSON Schema file (<name>.v<version>.json)."""
    from sdr_pipeline.contracts import export_schemas

    changed = export_schemas(directory, check=check)
    if check and changed:
        raise UserError(f"{len(changed)} schema file(s) out of date: {', '.join(p.name for p in changed)}",
                        fix="run `sdr-pipeline agents schemas`")
    verb = "would change" if check else "written"
    console.print(f"{len(changed)} schema file(s) {verb}" + (f": {', '.join(p.name for p in changed)}" if changed else ""))


@app.command()
def outbox(message_id: str = typer.Option(None, help="Only the e-mails of this message.")) -> None:
    """The send_email outbox: every e-mail, its status and when it is (or was) due."""
    from sdr_pipeline.agents.send_email import default_outbox

    box = default_outbox(Settings())
    try:
        rows = box.rows(message_id)
    finally:
        box.close()
    table = Table(title=f"outbox ({len(rows)} e-mails)")
    for column in ("message_id", "#", "lead_id", "to", "subject", "status", "send_at", "sent_at"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.message_id[:12], str(row.index), row.lead_id, row.to, row.subject[:40], row.status,
                      row.send_at.isoformat(timespec="minutes"),
                      row.sent_at.isoformat(timespec="minutes") if row.sent_at else "-")
    console.print(table)


@app.command()
def flush() -> None:
    """Send the scheduled e-mails that are due now (the agents service also does this on its own)."""
    from sdr_pipeline.agents.send_email import default_outbox

    box = default_outbox(Settings())
    try:
        sent = box.send_due()
    finally:
        box.close()
    console.print(f"sent {len(sent)} due e-mail(s)")


@app.command()
def mailbox(last: int = typer.Option(10, help="How many of the newest mails to show.")) -> None:
    """What the local SMTP server received (its Maildir under the state folder)."""
    from sdr_pipeline.infra.smtp import mailbox_dir, read_mailbox

    settings = Settings()
    mails = read_mailbox(settings)
    console.print(f"{len(mails)} mail(s) in {mailbox_dir(settings)}")
    for mail in mails[-last:]:
        console.rule(f"{mail['Subject']}")
        console.print(f"From: {mail['From']}  To: {mail['To']}  Message-ID: {mail['Message-ID']}", highlight=False)
        console.print(mail.get_content().strip(), highlight=False)
