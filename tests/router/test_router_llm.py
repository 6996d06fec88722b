"""The router against the real local model (Qwen2.5-Coder-1.5B on llama-server).

Nine clear messages, one per workflow stage. Every prompt version must render, constrain
and validate end to end with the real model on two of them (a new lead and a delivery report:
its answer is recorded and checked, whatever it is); the default prompt alone must route the
nine well above chance (three right at least; chance is one in six); the default configuration
(the prompt version and policy the job runs: the cascade) must route every clear case right.
How well each version routes is measured in the lab, not here. The model is deterministic at
temperature 0 with one request at a time, so these figures are stable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr_pipeline.contracts import Envelope
from sdr_pipeline.llm import make_client
from sdr_pipeline.registry import AgentRegistry
from sdr_pipeline.router import decide, list_prompts, load_knowledge, load_prompt
from sdr_pipeline.settings import Settings

pytestmark = pytest.mark.llm

EXPECTED = {
    "raw_lead": "lead_ingestion", "research_profile": "lead_scoring", "score_engage": "active_outreach",
    "score_nurture": "nurture_campaign", "outreach_email": "send_email", "delivery_report": "none",
    "reply_demo": "active_outreach", "reply_later": "nurture_campaign", "reply_unsubscribe": "none",
}
REPO = Path(__file__).resolve().parents[2]
REPO_PROMPTS = REPO / "prompts"


def _misses(settings: Settings, prompts_dir: Path, registry: AgentRegistry, envelopes: dict[str, Envelope],
            version: str, policy: str, stages: tuple[str, ...] = tuple(EXPECTED)) -> list[str]:
    """Route the given stages; check each LLM decision's record; return the stages routed wrong."""
    prompt = load_prompt("router", version, prompts_dir=prompts_dir)
    pooled = settings.model_copy(update={"router_example_pool": tuple(REPO / p for p in Settings().router_example_pool)})
    pool, cascade = load_knowledge(pooled, policy=policy, prompts=[prompt])
    client = make_client(settings, use_cache=False)
    misses = []
    for stage in stages:
        expected = EXPECTED[stage]
        decision = decide(envelopes[stage], prompt=prompt, policy=policy, llm=client, registry=registry, pool=pool,
                          cascade=cascade)
        assert decision.prompt_version == prompt.version and decision.reason.strip()
        if policy == "llm":
            assert decision.llm_called and decision.decided_by == "model", f"{stage}: {decision}"
        if decision.llm_called:
            assert decision.model and not decision.cached and decision.attempts >= 1
            assert decision.prompt_tokens > 200 and decision.completion_tokens >= 3  # a name alone is ~5 tokens
        if decision.agent != expected:
            misses.append(f"{stage}: {decision.agent} ({decision.reason})")
    return misses


@pytest.mark.parametrize("version", [p.version for p in list_prompts("router", prompts_dir=REPO_PROMPTS)])
def test_every_prompt_version_answers_end_to_end(
    llm_server_qwen: Settings, prompts_dir: Path, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
    version: str,
) -> None:
    """Rendering, the answer's grammar and its validation, with the real model; `_misses` checks each record."""
    # which agent it picks is the lab's measure; that the model answered validly is what `_misses` asserts
    _misses(llm_server_qwen, prompts_dir, registry, stage_envelopes, version, "llm",
            stages=("raw_lead", "delivery_report"))


def test_the_default_prompt_alone_routes_well_above_chance(
    llm_server_qwen: Settings, prompts_dir: Path, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    version = Settings(_env_file=None).router_prompt_version
    misses = _misses(llm_server_qwen, prompts_dir, registry, stage_envelopes, version, "llm")
    # at least three right, twice chance (one in six): the small model alone is weak on the label name only
    # (measured: 4 of 9 with v6); the cascade asks it only among the classifier's shortlist
    assert len(misses) <= len(EXPECTED) * 2 // 3, f"{version}: {len(misses)} of {len(EXPECTED)} wrong: {misses}"


def test_the_default_configuration_routes_every_clear_case(
    llm_server_qwen: Settings, prompts_dir: Path, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    """What the job runs. (The model alone with v6 under `contract` reads "not this quarter, send me some
    material" as none: the small model's weakness the cascade's classifier covers; measured, see README.)"""
    defaults = Settings(_env_file=None)
    assert _misses(llm_server_qwen, prompts_dir, registry, stage_envelopes, defaults.router_prompt_version,
                   defaults.router_policy) == []
