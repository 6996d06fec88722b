"""`sdr-pipeline llm …` commands that need no server."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sdr_pipeline.cli.main import app
from sdr_pipeline.exceptions import UserError

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SDR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SDR_LLM_PORT", "1")


def test_models_lists_the_table() -> None:
    result = runner.invoke(app, ["llm", "models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "qwen2.5-coder-1.5b-instruct-q4_k_m (default)" in result.output
    assert "smollm2-135m-instruct-q4_1" in result.output


def test_status_without_a_server() -> None:
    result = runner.invoke(app, ["llm", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert '"healthy": false' in result.output


def test_pull_of_an_unknown_model_lists_the_known_ones() -> None:
    result = runner.invoke(app, ["llm", "pull", "no-such-model"])
    assert isinstance(result.exception, UserError)
    assert "smollm2-135m-instruct-q4_1" in str(result.exception)


def test_serve_without_weights_says_what_to_run() -> None:
    result = runner.invoke(app, ["llm", "serve", "--model", "smollm2-135m-instruct-q4_1"])
    assert isinstance(result.exception, UserError)
    assert "run: sdr-pipeline llm pull smollm2-135m-instruct-q4_1" in str(result.exception)
