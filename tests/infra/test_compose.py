"""docker-compose.yml checked structurally: there is no Docker engine on these machines."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml

from sdr_pipeline.cli.main import app
from sdr_pipeline.contracts.topics import TOPICS
from sdr_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
KNOWN_SETTINGS = {f"SDR_{name.upper()}" for name in Settings.model_fields}
APP_DOCKERFILE = "docker/app.Dockerfile"


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return dict(env) if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_the_topology_is_complete():
    assert {"kafka", "flink-jobmanager", "flink-taskmanager", "mlflow", "agents", "llm", "intake", "smtp"} <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_sdr_variable_is_a_known_setting(name):
    env = _env(SERVICES[name])
    unknown = {key for key in env if key.startswith("SDR_")} - KNOWN_SETTINGS
    assert not unknown, f"{name} sets unknown settings {unknown}"
    if "build" in SERVICES[name]:
        foreign = {key for key in env if not key.startswith("SDR_") and key != "FLINK_PROPERTIES"}
        assert not foreign, f"{name} uses non-SDR variables {foreign}"


def test_published_host_ports_do_not_clash():
    seen: dict[str, str] = {}
    for name, service in SERVICES.items():
        for mapping in service.get("ports", []):
            host_side = mapping.rsplit(":", 1)[0]
            assert host_side not in seen, f"{name} and {seen.get(host_side)} both publish {host_side}"
            seen[host_side] = name


def test_host_ports_match_the_local_defaults():
    defaults = Settings(_env_file=None)
    published = {name: {int(p.split(":")[-2]) for p in svc.get("ports", [])} for name, svc in SERVICES.items()}
    assert defaults.kafka_port in published["kafka"]
    assert defaults.mlflow_port in published["mlflow"]
    assert defaults.llm_port in published["llm"]
    assert defaults.agents_port in published["agents"]
    assert defaults.intake_port in published["intake"]
    assert defaults.smtp_port in published["smtp"]


@pytest.mark.parametrize("name", sorted(name for name, svc in SERVICES.items() if "build" in svc))
def test_build_contexts_and_dockerfiles_exist(name):
    build = SERVICES[name]["build"]
    context = ROOT / build["context"]
    assert context.is_dir()
    dockerfile = context / build["dockerfile"]
    assert dockerfile.is_file()
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (context / source).exists(), f"{dockerfile.name} copies missing {source}"


@pytest.mark.parametrize("name", sorted(name for name, svc in SERVICES.items()
                                        if svc.get("build", {}).get("dockerfile") == APP_DOCKERFILE and "command" in svc
                                        and "entrypoint" not in svc))
def test_app_services_run_real_cli_commands(name):
    command = typer.main.get_command(app)
    words = list(SERVICES[name]["command"])
    while words and hasattr(command, "commands"):
        assert words[0] in command.commands, f"{name}: `sdr-pipeline {' '.join(SERVICES[name]['command'])}` does not exist"
        command = command.commands[words.pop(0)]


def test_images_are_pinned_or_built():
    for name, service in SERVICES.items():
        assert "build" in service or ":" in service.get("image", ""), f"{name} has neither a build nor a tagged image"


def test_same_topic_list_is_used():
    topics_service = SERVICES["topics"]
    assert topics_service["command"] == ["infra", "topics"]
    assert len(TOPICS) >= 6
