"""Notebooks are committed as code: valid nbformat 4.5 with cell ids, no outputs, no execution counts.

Outputs in git make diffs unreadable, carry stale figures and can leak data (an MLflow token, a lead's
e-mail). The check reads the files git tracks (or, outside a checkout, every notebook under notebooks/
and evals/), so an executed notebook saved from JupyterLab fails here before it is committed.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _tracked_notebooks() -> list[Path]:
    git = shutil.which("git")
    if git and (REPO_ROOT / ".git").exists():
        listed = subprocess.run([git, "ls-files", "-z", "--", "*.ipynb"], cwd=REPO_ROOT, capture_output=True,
                                check=True).stdout.decode()
        return sorted(REPO_ROOT / name for name in listed.split("\0") if name)
    return sorted([*REPO_ROOT.glob("notebooks/*.ipynb"), *REPO_ROOT.glob("evals/*.ipynb")])


NOTEBOOKS = _tracked_notebooks()


def problems(path: Path) -> list[str]:
    """What keeps the notebook at `path` from being committable, one line each (empty: nothing)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        nbformat.validate(notebook)
    found = [f"{warning.category.__name__}: {str(warning.message).split('.')[0]}" for warning in caught
             if issubclass(warning.category, nbformat.validator.MissingIDFieldWarning)]
    if (notebook.nbformat, notebook.nbformat_minor) < (4, 5):
        found.append(f"nbformat {notebook.nbformat}.{notebook.nbformat_minor}: cell ids need 4.5")
    for number, cell in enumerate(notebook.cells):
        label = f"cell {number} ({cell.get('id', 'no id')})"
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            found.append(f"{label} has {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            found.append(f"{label} has execution count {cell.execution_count}")
    return found


def test_the_notebooks_are_found() -> None:
    names = {path.relative_to(REPO_ROOT).as_posix() for path in NOTEBOOKS}
    assert {"notebooks/01_datasets.ipynb", "evals/route_eval.ipynb", "evals/compare.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.relative_to(REPO_ROOT).as_posix())
def test_committed_without_outputs(path: Path) -> None:
    found = problems(path)
    assert not found, (f"{path.relative_to(REPO_ROOT)}: " + "; ".join(found) +
                       " — clear them before committing (JupyterLab: Edit > Clear Outputs of All Cells, then save;"
                       " or `jupyter nbconvert --clear-output --inplace <file>`)")


def test_the_check_sees_outputs_counts_and_missing_ids(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("1 + 1", execution_count=3,
                                     outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "2"},
                                                                     execution_count=3)])
    notebook.cells = [code, nbformat.v4.new_markdown_cell("# title")]
    path = tmp_path / "dirty.ipynb"
    nbformat.write(notebook, path)
    found = problems(path)
    assert any("1 output(s)" in line for line in found) and any("execution count 3" in line for line in found)

    raw = path.read_text().replace(f'"id": "{notebook.cells[1].id}",', "")
    path.write_text(raw)
    assert any("MissingIDFieldWarning" in line for line in problems(path))
