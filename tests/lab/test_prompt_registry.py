"""Mirroring prompt files into the real MLflow Prompt Registry: idempotent, and a changed file gets a new version."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr_pipeline.evals.prompt_registry import PRODUCTION_ALIAS, PromptRegistry
from sdr_pipeline.exceptions import UserError
from sdr_pipeline.router import list_prompts
from sdr_pipeline.settings import Settings

pytestmark = pytest.mark.mlflow


def test_register_is_idempotent_and_tracks_changes(mlflow_server: Settings, private_prompts: tuple[Path, str]) -> None:
    prompts_dir, name = private_prompts
    registry = PromptRegistry(mlflow_server.tracking_uri)

    first = registry.sync(list_prompts(name, prompts_dir=prompts_dir))
    assert [(o.file_version, o.registry_version, o.status) for o in first] == [
        ("v1", 1, "registered"), ("v2", 2, "registered"), ("v3", 3, "registered")]

    second = registry.sync(list_prompts(name, prompts_dir=prompts_dir))
    assert [(o.registry_version, o.status) for o in second] == [(1, "unchanged"), (2, "unchanged"), (3, "unchanged")]
    assert len(registry.versions(name)) == 3

    v2 = prompts_dir / name / "v2.yaml"
    v2.write_text(v2.read_text().replace("\n  <|user|>", "\n  Think before you answer.\n  <|user|>", 1))
    third = registry.sync(list_prompts(name, prompts_dir=prompts_dir))
    assert [(o.file_version, o.registry_version, o.status) for o in third] == [
        ("v1", 1, "unchanged"), ("v2", 4, "changed"), ("v3", 3, "unchanged")]

    versions = registry.versions(name)
    assert [(v.registry_version, v.file_version) for v in versions] == [(1, "v1"), (2, "v2"), (3, "v3"), (4, "v2")]
    assert versions[3].template_hash == third[1].template_hash != versions[1].template_hash
    assert registry.find(name, "v2", third[1].template_hash).registry_version == 4


def test_aliases_are_listed_and_a_missing_one_names_the_fix(mlflow_server: Settings,
                                                              private_prompts: tuple[Path, str]) -> None:
    prompts_dir, name = private_prompts
    registry = PromptRegistry(mlflow_server.tracking_uri)
    registry.sync(list_prompts(name, prompts_dir=prompts_dir))
    with pytest.raises(UserError, match="prompts promote"):
        registry.by_alias(name, PRODUCTION_ALIAS)
    registry.set_alias(name, PRODUCTION_ALIAS, 2)
    assert registry.by_alias(name, PRODUCTION_ALIAS).file_version == "v2"
    assert [v.aliases for v in registry.versions(name)] == [(), (PRODUCTION_ALIAS,), ()]
    with pytest.raises(UserError, match="prompts register"):
        registry.find(name, "v9", "0" * 64)
