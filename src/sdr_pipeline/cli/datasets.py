"""`sdr-pipeline datasets …`: write and check the labelled routing datasets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.evals.datasets import count_table, dataset_sha256, load_dataset
from sdr_pipeline.evals.generate import DATASET_NAME, DEFAULT_SEED, DEFAULT_TEST_FRACTION, generate_dataset

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


@app.command()
def generate(
    seed: int = typer.Option(DEFAULT_SEED, help="Seed of every random choice; the same seed gives the same bytes."),
    test_fraction: float = typer.Option(DEFAULT_TEST_FRACTION, help="Share of each label that goes to `test`."),
    out: Path = typer.Option(Path("datasets"), help="Folder to write the dataset and its cards into."),
    hard_cases: Path | None = typer.Option(None, help="Hand-written hard cases; default OUT/hard_cases.jsonl."),
    name: str = typer.Option(DATASET_NAME, help="Dataset name: OUT/NAME.jsonl and OUT/NAME.card.md."),
) -> None:
    """Write the seeded routing dataset (generated examples plus hard cases, dev/test splits) and its cards."""
    result = generate_dataset(out, seed=seed, test_fraction=test_fraction, hard_cases_path=hard_cases, name=name)
    table = Table(title=f"{result.path} ({result.size} examples)")
    for column in ("label", "dev", "test", "total"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, counts in result.label_counts.items():
        table.add_row(label, *(str(counts.get(column, 0)) for column in ("dev", "test", "total")))
    console.print(table)
    console.print(f"sha256 {result.sha256}\ncards  {result.card_path}, {result.hard_cases_card_path}")


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
