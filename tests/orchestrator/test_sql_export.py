import pytest

from sdr_pipeline.orchestrator.sql_export import API_KEY_PLACEHOLDER, explain, export_sql
from sdr_pipeline.registry import load_registry
from sdr_pipeline.router import list_prompts
from sdr_pipeline.settings import Settings
from tests.router.conftest import REPO_ROOT

PROMPTS = list_prompts("router", prompts_dir=REPO_ROOT / "prompts")


@pytest.mark.parametrize("prompt", PROMPTS, ids=lambda p: p.version)
def test_export_carries_the_prompt_and_every_agent_but_never_a_key(prompt):
    settings = Settings(_env_file=None, llm_api_key="sk-must-not-leak")
    export = export_sql(settings, prompt, load_registry())
    assert "'provider' = 'openai'" in export.create_model
    assert "ML_PREDICT(TABLE agent_messages, MODEL sdr_router_" in export.insert
    assert prompt.hash[:12] in export.script
    for agent in load_registry().names:
        assert agent in export.create_model
    assert "{{" not in export.create_model
    assert "sk-must-not-leak" not in export.script and API_KEY_PLACEHOLDER in export.script


@pytest.mark.flink
def test_flink_parses_and_plans_the_export():
    settings = Settings(_env_file=None)
    plan = explain(settings, export_sql(settings, PROMPTS[-1], load_registry()))
    assert "MLPredictTableFunction" in plan
    assert "agent_messages" in plan and "routing_decisions_sql" in plan
