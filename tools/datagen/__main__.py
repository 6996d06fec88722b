"""`python -m tools.datagen`: write a new seeded routing dataset and its cards, from the checkout.

A thin shell: flags in, one call to `generate_dataset`, its counts out; a known error is one red
line and exit code 1, like the `sdr-pipeline` command.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from sdr_pipeline.exceptions import SdrPipelineError
from tools.datagen.generate import DATASET_NAME, DATASETS_DIR, DEFAULT_SEED, DEFAULT_TEST_FRACTION, HARD_CASES_FILE
from tools.datagen.generate import generate_dataset
from tools.datagen.phrasebook import PHRASEBOOK_PATH, load_phrasebook

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="markdown")
console = Console()
err_console = Console(stderr=True)


@app.command()
def generate(
    seed: int = typer.Option(DEFAULT_SEED, help="Seed of every random choice; the same seed gives the same bytes."),
    test_fraction: float = typer.Option(DEFAULT_TEST_FRACTION, help="Share of each label that goes to `test`."),
    out: Path = typer.Option(DATASETS_DIR, help="Folder to write the dataset and its cards into (made if missing)."),
    name: str = typer.Option(DATASET_NAME, help="Dataset name: OUT/NAME.jsonl and OUT/NAME.card.md; never an "
                                                "existing one (the error names the next free version)."),
    hard_cases: Path = typer.Option(DATASETS_DIR / HARD_CASES_FILE, help="The hand-written hard cases to merge in."),
    phrasebook: Path = typer.Option(PHRASEBOOK_PATH, help="The text banks the scenarios draw from."),
) -> None:
    """Write a seeded routing dataset (generated examples plus hard cases, dev/test splits) and its cards.

    A dataset is never rewritten: with the defaults this refuses because `datasets/routing_v1.jsonl`
    exists, and names the version to write instead (`--name routing_v2`). `--out` a fresh folder
    reproduces `routing_v1` there, byte for byte.
    """
    result = generate_dataset(out, seed=seed, test_fraction=test_fraction, hard_cases_path=hard_cases, name=name,
                              book=load_phrasebook(phrasebook))
    table = Table(title=f"{result.path} ({result.size} examples)")
    for column in ("label", "dev", "test", "total"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, counts in result.label_counts.items():
        table.add_row(label, *(str(counts.get(column, 0)) for column in ("dev", "test", "total")))
    console.print(table)
    console.print(f"sha256 {result.sha256}\ncards  {result.card_path}, {result.hard_cases_card_path}")


def main() -> None:
    """Entry point: a known error becomes one red line and exit code 1, never a traceback."""
    try:
        app()
    except SdrPipelineError as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
