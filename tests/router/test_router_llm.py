"""The router against the real local model (Qwen2.5-Coder-1.5B on llama-server): six calls in all.

Per prompt version: one clear message under the `llm` policy (any agent may be chosen) and
one prospect reply under the `contract` policy (the enum is narrowed to the two reply
agents + none). The model is deterministic at temperature 0, so these are stable; what
they check is that each version's rendered prompt, schema and validation work end to end
with a real model and that clear cases come out right.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sdr_pipeline.contracts import Envelope
from sdr_pipeline.llm import make_client
from sdr_pipeline.registry import AgentRegistry
from sdr_pipeline.router import decide, load_prompt
from sdr_pipeline.settings import Settings

pytestmark = pytest.mark.llm

CASES = [
    ("score_engage", "llm", "active_outreach"),
    ("reply_demo", "contract", "active_outreach"),
]


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_each_prompt_version_routes_clear_cases_with_the_real_model(
    llm_server_qwen: Settings, prompts_dir: Path, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
    version: str,
) -> None:
    prompt = load_prompt("router", version, prompts_dir=prompts_dir)
    client = make_client(llm_server_qwen, use_cache=False)
    for stage, policy, expected in CASES:
        decision = decide(stage_envelopes[stage], prompt=prompt, policy=policy, llm=client, registry=registry)
        assert decision.llm_called and decision.model and not decision.cached
        assert decision.attempts >= 1 and decision.prompt_tokens > 200 and decision.completion_tokens > 5
        assert decision.prompt_version == version and decision.reason.strip()
        assert decision.agent == expected, f"{version} {stage}: {decision.agent} ({decision.reason})"
