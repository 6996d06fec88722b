"""`sdr-pipeline intake …`: the lead form, JSON endpoint and e-mail webhook, and the bridge."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from sdr_pipeline.exceptions import UserError
from sdr_pipeline.settings import Settings

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command()
def serve(bridge: bool = typer.Option(True, help="Also bridge incoming_leads to agent_messages.")) -> None:
    """Serve the lead form and webhooks on SDR_INTAKE_HOST:SDR_INTAKE_PORT (with the bridge)."""
    from sdr_pipeline.intake.service import serve as serve_intake

    serve_intake(Settings(), bridge=bridge)


@app.command()
def submit(lead_file: Path = typer.Argument(..., help="A JSON file with one lead (name, email, company_name, ...).")) -> None:
    """Post one lead to the running intake service's JSON endpoint."""
    import httpx

    settings = Settings()
    try:
        payload = json.loads(lead_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read {lead_file} as JSON ({error})") from None
    url = f"http://{settings.intake_host}:{settings.intake_port}/api/leads"
    try:
        response = httpx.post(url, json=payload, timeout=10.0)
    except httpx.HTTPError as error:
        raise UserError(f"intake at {url} is not reachable ({error})", fix="start it with `sdr-pipeline intake serve`") from None
    if response.status_code >= 400:
        raise UserError(f"intake refused the lead (HTTP {response.status_code}): {response.json().get('detail')}")
    console.print_json(data=response.json())
