"""The infra CLI in-process, with settings pointing at an empty state folder and unused ports."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sdr_pipeline.cli import _stack
from sdr_pipeline.cli.main import app
from sdr_pipeline.settings import Settings
from tests.conftest import free_port

runner = CliRunner()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SDR_STATE_DIR", str(tmp_path / "state"))
    for name in ("KAFKA_PORT", "MLFLOW_PORT", "SMTP_PORT", "LLM_PORT", "AGENTS_PORT", "INTAKE_PORT"):
        monkeypatch.setenv(f"SDR_{name}", str(free_port()))
    return tmp_path


def test_status_json_reports_every_part_down_and_exits_1(isolated):
    result = runner.invoke(app, ["infra", "status", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    names = [part["name"] for part in report["parts"]]
    assert names[:3] == ["kafka", "mlflow", "smtp"] and "router" in names and names[-1] == "flink"
    assert report["healthy"] is False
    kafka = report["parts"][0]
    assert kafka["health"] == "down" and kafka["pid"] is None and kafka["address"].startswith("127.0.0.1:")


def test_down_with_nothing_running_is_a_no_op(isolated):
    result = runner.invoke(app, ["infra", "down"])
    assert result.exit_code == 0
    assert "nothing of ours was running" in result.stdout


def test_unknown_part_names_the_choices(isolated):
    result = runner.invoke(app, ["infra", "down", "zookeeper"])
    assert result.exit_code != 0
    assert "zookeeper" in str(result.exception) and "kafka" in str(result.exception)


def test_logs_of_a_part_that_never_ran(isolated):
    result = runner.invoke(app, ["infra", "logs", "kafka"])
    assert result.exit_code == 0 and "no log for kafka" in result.stdout


def test_part_names_match_their_pid_files():
    """`down` stops parts by name, so each part's name must be the name its process spec uses."""
    settings = Settings(_env_file=None)
    for part in _stack.ALL:
        if part.members is not None:  # a cluster (kafka, flink): `down` stops it by its members' names
            continue
        try:
            spec = part.spec(settings)
        except Exception:  # noqa: BLE001 - e.g. a model not pulled: the name check needs a spec
            continue
        assert spec.name == part.name


def test_help_teaches_the_commands():
    result = runner.invoke(app, ["infra", "--help"])
    assert result.exit_code == 0
    for command in ("up", "down", "status", "logs", "fetch", "topics"):
        assert command in result.stdout
