"""The agent registry: the packaged file, load errors naming the entry, generated prompt and candidates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sdr_pipeline.contracts import Envelope
from sdr_pipeline.exceptions import RegistryError
from sdr_pipeline.registry import NONE_AGENT, AgentRegistry, load_registry

AGENTS = ("lead_ingestion", "lead_scoring", "active_outreach", "nurture_campaign", "send_email")


def entry(name: str, **overrides: object) -> dict[str, object]:
    return {"name": name, "description": f"does {name}", "input_contract": "raw_lead",
            "output_contract": "research_profile", "endpoint": f"/agents/{name}", "timeout_s": 10,
            "max_attempts": 2, **overrides}


def write(tmp_path: Path, entries: list[object]) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump({"agents": entries}))
    return path


def test_packaged_registry_loads() -> None:
    registry = load_registry()
    assert registry.names == AGENTS
    assert registry.get("lead_scoring").endpoint == "/agents/lead_scoring"
    assert all(agent.timeout_s > 0 and agent.max_attempts >= 1 for agent in registry.agents)


def test_prompt_section_lists_every_agent_and_none() -> None:
    registry = load_registry()
    lines = registry.prompt_section().splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [f"- {name}" for name in (*AGENTS, NONE_AGENT)]
    assert registry.prompt_section() == load_registry().prompt_section()  # deterministic


def test_candidates_and_check_input() -> None:
    registry = load_registry()
    fresh = Envelope(lead_id="l", produced_by="web_form", lead={"email": "a@b.example"})
    candidates = registry.candidates(fresh)
    assert set(candidates) == {*AGENTS, NONE_AGENT}, "none is checked against its terminal contract too"
    assert [name for name, reason in candidates.items() if reason is None] == ["lead_ingestion"]
    assert "delivery_reported v1 at 'context'" in (candidates[NONE_AGENT] or "")
    assert "researched_lead v1 at 'context'" in (registry.check_input("lead_scoring", fresh.model_dump()) or "")
    assert registry.check_input(NONE_AGENT, fresh) is None
    assert registry.check_input("lead_scoring", fresh) is not None


def test_dispatch_table() -> None:
    table = load_registry().dispatch_table("http://127.0.0.1:8100/")
    assert table["send_email"] == "http://127.0.0.1:8100/agents/send_email"


def test_unknown_agent_is_a_registry_error() -> None:
    with pytest.raises(RegistryError, match="no_such"):
        load_registry().get("no_such")


@pytest.mark.parametrize(
    ("entries", "entry_name", "problem"),
    [
        ([entry("alpha", input_contract="nope")], "alpha", "unknown contract 'nope'"),
        ([entry("alpha", output_contract="raw_lead")], "alpha", "expected a payload contract"),
        ([entry("alpha", input_contract="lead_score")], "alpha", "expected a envelope contract"),
        ([entry("alpha"), entry("alpha", endpoint="/agents/other")], "alpha", "duplicate name"),
        ([entry("alpha", endpoint="http://evil.example/x")], "alpha", "endpoint"),
        ([entry("alpha", endpoint="/agents/alpha/")], "alpha", "endpoint"),
        ([entry("alpha"), entry("beta", endpoint="/agents/alpha")], "beta", "already used by 'alpha'"),
        ([entry("none")], "none", "reserved"),
        ([entry("alpha", timeout_s=0)], "alpha", "timeout_s"),
        ([entry("alpha", colour="red")], "alpha", "colour"),
        ([{"description": "no name"}], "#1", "name"),
        (["just a string"], "#1", "mapping"),
    ],
)
def test_bad_entries_name_the_entry(tmp_path: Path, entries: list[object], entry_name: str, problem: str) -> None:
    with pytest.raises(RegistryError) as caught:
        load_registry(write(tmp_path, entries))
    assert caught.value.entry == entry_name
    assert problem in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="file not found"):
        load_registry(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("agents: [unclosed")
    with pytest.raises(RegistryError, match="YAML"):
        load_registry(broken)
    with pytest.raises(RegistryError, match="agents"):
        load_registry(write(tmp_path, []))


def test_a_new_agent_is_one_entry(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, [entry("alpha"), entry("beta", input_contract="researched_lead")]))
    assert isinstance(registry, AgentRegistry)
    assert registry.names == ("alpha", "beta")
    assert "- beta: does beta" in registry.prompt_section()
