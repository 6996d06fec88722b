"""`sdr-pipeline lab`: JupyterLab on the running stack, in one command."""

from __future__ import annotations

import typer
from rich.console import Console

from sdr_pipeline.cli import _stack
from sdr_pipeline.infra import process, stack
from sdr_pipeline.infra.lab import NAME, lab_url
from sdr_pipeline.settings import Settings

console = Console()


def lab(
    with_stack: bool = typer.Option(
        False, "--stack", help="Also start Kafka, SMTP and the local model (`infra up`), not only MLflow."),
) -> None:
    """Start JupyterLab for the notebooks in `notebooks/` and `evals/`, and print its address with the token.

    JupyterLab listens on 127.0.0.1 (`SDR_LAB_HOST`, `SDR_LAB_PORT`, default 8888) and opens the checkout.
    Its kernel is this project's Python with the stack's settings (the `SDR_*` variables and
    `MLFLOW_TRACKING_URI`), so a notebook reaches the same Kafka, MLflow and model as the CLI. It opens
    no browser and calls nothing on the internet (no news, no update check, no extension search).

    It runs in the background as a part of the stack, like `infra up lab`: the local MLflow starts with
    it (unless `SDR_MLFLOW_TRACKING_URI` names another server), `--stack` starts Kafka, SMTP and the model
    too. Running it again prints the address of the one already running.

    Stop it with `sdr-pipeline infra down lab`, or `sdr-pipeline infra down` with everything else.
    Its log: `sdr-pipeline infra logs lab`.
    """
    settings = Settings()
    names = [part.name for part in _stack.INFRA] if with_stack else ["mlflow"]
    if settings.mlflow_tracking_uri:  # another MLflow server: not ours to start
        names.remove("mlflow")
    stack.up(settings, _stack.ALL, [*names, NAME])
    console.print(f"[green]✓[/] JupyterLab: {lab_url(settings)}", soft_wrap=True, highlight=False)
    console.print(f"  MLflow UI:  {settings.tracking_uri}", highlight=False)
    console.print(f"  notebooks:  {settings.lab_root_dir.resolve()} (notebooks/, evals/)", highlight=False)
    if not process.port_open(settings.llm_host, settings.llm_port) and not settings.llm_base_url:
        console.print("  the local model is not running: notebooks that ask it need "
                      "`sdr-pipeline infra up llama-server` (or `sdr-pipeline lab --stack`)", highlight=False)
    console.print("  stop it: sdr-pipeline infra down lab", highlight=False)
