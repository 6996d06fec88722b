"""`sdr-pipeline datasets …`: check, compare and harvest the labelled routing datasets.

Generating a dataset is not here: the seeded generator is a tool of the checkout
(`python -m tools.datagen`), not part of the runtime package.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.evals.datasets import count_table, dataset_sha256, load_dataset
from sdr_pipeline.exceptions import UserError

app = typer.Typer(no_args_is_help=True)
console = Console()


def _table(title: str, counts: pd.DataFrame) -> Table:
    """A count table from `count_table` as a rich table."""
    table = Table(title=title)
    table.add_column(str(counts.index.name))
    for column in counts.columns:
        table.add_column(str(column), justify="right")
    for key, row in counts.iterrows():
        table.add_row(str(key), *(str(int(value)) for value in row))
    return table


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def generate() -> None:
    """Moved: run `.venv/bin/python -m tools.datagen` from the checkout (the generator is not a runtime part)."""
    raise UserError("`sdr-pipeline datasets generate` moved out of the runtime package",
                    fix="run `.venv/bin/python -m tools.datagen --help` from the repository checkout")


@app.command()
def validate(
    path: Path = typer.Argument(..., help="A dataset JSONL file."),
    split: str | None = typer.Option(None, help="Only this split (dev or test)."),
    tags: bool = typer.Option(False, "--tags", help="Also show the counts per tag."),
) -> None:
    """Check every line of a dataset (the first bad line is named) and show its counts."""
    examples = load_dataset(path, split=split)
    console.print(_table(f"{path}: {len(examples)} examples", count_table(examples, by="label")))
    if tags:
        console.print(_table("tags", count_table(examples, by="tag")))
    console.print(f"sha256 {dataset_sha256(path)}")


@app.command()
def harvest(
    since: str = typer.Option("7d", help="Decisions since then: a span back from now (90m, 2h, 7d) or an ISO date."),
    until: str = typer.Option(None, help="Decisions before then (same forms); default: now."),
    sample: int = typer.Option(20, min=0, help="Decisions drawn at random besides the targeted ones: the next "
                                                 "version's unbiased `test` rows."),
    seed: int = typer.Option(0, help="Seed of the random draw."),
    queue: Path = typer.Option(None, help="The labelling queue; default <state_dir>/lab/label_queue.jsonl."),
    commit: bool = typer.Option(False, "--commit", help="Publish the labelled rows of QUEUE as dataset OUT instead."),
    out: Path = typer.Option(Path("datasets/field_v2.jsonl"), help="With --commit: the new dataset file (never "
                                                                     "overwritten) and its card beside it."),
) -> None:
    """Production decisions worth a label, queued for people; with --commit, the labelled ones as a new dataset.

    Picks from routing_decisions (with their messages from agent_messages): the unsure (below the cascade's
    accept threshold), the off-contract, the overturned (the agent refused with a 4xx, or a reviewer chose)
    and a seeded random sample. Label the queue in notebooks/04_label_queue.ipynb, then run this again with
    --commit. Targeted rows become `dev`, the sample `test`; every row keeps where it came from.
    """
    from datetime import UTC, datetime

    from sdr_pipeline.evals.harvest import harvest as pick
    from sdr_pipeline.evals.harvest import load_queue, publish, save_queue
    from sdr_pipeline.infra.bus import KafkaBus
    from sdr_pipeline.orchestrator.dead_letters import parse_since
    from sdr_pipeline.settings import Settings

    settings = Settings()
    queue = queue or settings.state_dir / "lab" / "label_queue.jsonl"
    if commit:
        rows = load_queue(queue)
        sha, counts = publish(rows, out, source=f"queue {queue}")
        table = Table(title=f"{out}: {sum(counts.values())} labelled examples")
        for column in ("label", "dev", "test"):
            table.add_column(column, justify="left" if column == "label" else "right")
        for label in sorted({label for label, _ in counts}):
            table.add_row(label, str(counts.get((label, "dev"), 0)), str(counts.get((label, "test"), 0)))
        console.print(table)
        console.print(f"sha256 {sha}\ncard   {out.with_suffix('.card.md')}\n"
                      f"({sum(r.label is None for r in rows)} queued row(s) without a label were left out)")
        return
    bus = KafkaBus(settings.bootstrap_servers, client_id="sdr-harvest")
    try:
        rows = pick(bus, since=parse_since(since), until=parse_since(until) if until else datetime.now(UTC),
                    accept=settings.router_cascade_accept, sample=sample, seed=seed)
    finally:
        bus.close()
    save_queue(rows, queue)
    reasons = Counter(why for row in rows for why in row.why)
    console.print(f"{len(rows)} decision(s) queued in {queue}: "
                  + (", ".join(f"{n} {why}" for why, n in reasons.most_common()) or "nothing in that window"))
    console.print("label them in notebooks/04_label_queue.ipynb, then `sdr-pipeline datasets harvest --commit`")


@app.command()
def diff(
    before: Path = typer.Argument(..., help="The older dataset file."),
    after: Path = typer.Argument(..., help="The newer dataset file."),
) -> None:
    """What changed between two dataset files, matched by message id: counts per label, added, removed,
    relabelled and moved examples."""
    from sdr_pipeline.evals.datasets import diff_datasets

    old, new = load_dataset(before), load_dataset(after)
    change = diff_datasets(old, new)
    console.print(_table(f"{before} → {after}", change.label_counts(old, new)))
    console.print(f"added {len(change.added)}, removed {len(change.removed)}, relabelled {len(change.relabelled)}, "
                  f"moved between splits {len(change.moved)}")
    for was, now in change.relabelled[:20]:
        console.print(f"  relabelled {now.id}: {was.expected_agent} → {now.expected_agent}")
