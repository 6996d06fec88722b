"""decide / adecide with the scripted model: validation, re-asks, policies, recorded fields."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sdr_pipeline.contracts import DeadLetter, Envelope, RoutingDecision
from sdr_pipeline.exceptions import LLMUnavailableError, RouterDecisionError, UserError
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.registry import NONE_AGENT, AgentRegistry
from sdr_pipeline.router import RouterPrompt, adecide, decide, load_prompt


@pytest.fixture(scope="module")
def prompt(prompts_dir: Path) -> RouterPrompt:
    return load_prompt("router", "v2", prompts_dir=prompts_dir)


def _answer(agent: str, confidence: float = 0.9, reason: str = "clear case") -> dict:
    return {"agent": agent, "confidence": confidence, "reason": reason}


def test_valid_answer_becomes_a_full_decision(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    envelope = stage_envelopes["research_profile"]
    llm = ScriptedLLM([_answer("lead_scoring", 0.8, "a research profile without a score")], model="qwen-test")

    decision = decide(envelope, prompt=prompt, policy="llm", llm=llm, registry=registry)

    assert (decision.agent, decision.confidence, decision.reason) == (
        "lead_scoring", 0.8, "a research profile without a score")
    assert (decision.message_id, decision.lead_id, decision.hop) == (envelope.message_id, envelope.lead_id, 1)
    assert (decision.policy, decision.prompt_name, decision.prompt_version, decision.prompt_hash) == (
        "llm", "router", "v2", prompt.hash)
    assert decision.model == "qwen-test" and decision.llm_called and decision.attempts == 1
    assert decision.candidates == list(registry.names)
    assert decision.raw_output == json.dumps(_answer("lead_scoring", 0.8, "a research profile without a score"))
    assert decision.prompt_tokens > 100 and decision.completion_tokens > 0 and decision.cost_usd == 0.0
    assert decision.cached is False and decision.latency_s >= 0
    # what was asked: the rendered prompt and a schema whose agent enum is every agent + none
    (call,) = llm.calls
    assert call.messages == prompt.render(envelope, registry)
    assert call.schema["properties"]["agent"]["enum"] == [*registry.names, NONE_AGENT]
    assert call.schema["required"] == ["reason", "agent", "confidence"], "reason first: the model reasons before it picks"
    assert call.temperature == 0.0


def test_invalid_then_valid_is_re_asked_with_the_problem(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    truncated = '{"agent": "lead_scoring", "confidence": 0.7'
    llm = ScriptedLLM([truncated, _answer("lead_scoring")])

    decision = decide(stage_envelopes["research_profile"], prompt=prompt, policy="llm", llm=llm, registry=registry)

    assert decision.agent == "lead_scoring" and decision.attempts == 2 and len(llm.calls) == 2
    first, second = llm.calls
    # the re-ask repeats the conversation, shows the bad answer and says what is wrong,
    # so it is a different request (a response cache cannot replay the bad answer)
    assert second.messages[: len(first.messages)] == first.messages
    assert second.messages[len(first.messages)] == {"role": "assistant", "content": truncated}
    assert second.messages[-1]["role"] == "user" and "not a JSON object" in second.messages[-1]["content"]
    one_call = decide(stage_envelopes["research_profile"], prompt=prompt, policy="llm",
                      llm=ScriptedLLM([_answer("lead_scoring")]), registry=registry)
    assert decision.prompt_tokens > 2 * one_call.prompt_tokens - 1, "tokens of both calls are counted"


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("Sure! I think lead_scoring.", "not a JSON object"),
        (_answer("lead_sorting"), "'agent' is 'lead_sorting'"),
        (_answer("lead_scoring", confidence=1.5), "'confidence'"),
        ({"agent": "lead_scoring", "confidence": 0.5}, "'reason'"),
        (_answer("lead_scoring", reason=""), "'reason'"),
    ],
)
def test_always_invalid_raises_with_the_raw_output(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope], bad, problem: str,
) -> None:
    envelope = stage_envelopes["research_profile"]
    llm = ScriptedLLM([bad] * 3)

    with pytest.raises(RouterDecisionError, match=problem) as raised:
        decide(envelope, prompt=prompt, policy="llm", llm=llm, registry=registry, answer_attempts=3)

    assert len(llm.calls) == 3 and llm.remaining == 0
    error = raised.value
    assert error.raw_output == (bad if isinstance(bad, str) else json.dumps(bad))
    assert (error.message_id, error.lead_id) == (envelope.message_id, envelope.lead_id)
    letter = DeadLetter.from_error(envelope.to_bytes(), error, stage="routing")
    assert (letter.raw_output, letter.message_id, letter.error_type) == (
        error.raw_output, envelope.message_id, "RouterDecisionError")
    assert Envelope.model_validate_json(letter.raw_value) == envelope


def test_answer_attempts_bounds_the_model_calls(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    llm = ScriptedLLM(["nope"])
    with pytest.raises(RouterDecisionError, match="after 1 model calls"):
        decide(stage_envelopes["raw_lead"], prompt=prompt, policy="llm", llm=llm, registry=registry, answer_attempts=1)
    with pytest.raises(UserError, match="at least 1"):
        decide(stage_envelopes["raw_lead"], prompt=prompt, policy="llm", llm=ScriptedLLM([]), registry=registry,
               answer_attempts=0)


def test_contract_policy_single_candidate_skips_the_model(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    llm = ScriptedLLM([])  # any call would fail the test: the script is empty
    expected = {"raw_lead": "lead_ingestion", "research_profile": "lead_scoring", "score_engage": "active_outreach",
                "score_nurture": "nurture_campaign", "outreach_email": "send_email"}
    for stage, agent in expected.items():
        decision = decide(stage_envelopes[stage], prompt=prompt, policy="contract", llm=llm, registry=registry)
        assert (decision.agent, decision.confidence, decision.candidates) == (agent, 1.0, [agent]), stage
        assert decision.reason.startswith("contract:") and agent in decision.reason
        assert not decision.llm_called and decision.attempts == 0 and decision.model is None
        assert decision.raw_output is None and decision.prompt_tokens == decision.completion_tokens == 0
        assert decision.policy == "contract" and decision.prompt_hash == prompt.hash
    assert llm.calls == []


def test_contract_policy_none_left_routes_to_none_with_every_reason(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    llm = ScriptedLLM([])
    decision = decide(stage_envelopes["delivery_report"], prompt=prompt, policy="contract", llm=llm, registry=registry)
    assert (decision.agent, decision.confidence, decision.candidates, decision.llm_called) == (NONE_AGENT, 1.0, [], False)
    for agent, rejection in registry.candidates(stage_envelopes["delivery_report"]).items():
        assert f"{agent}: {rejection}" in decision.reason
    assert llm.calls == []


def test_contract_policy_asks_the_model_among_survivors_only(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    survivors = ["active_outreach", "nurture_campaign"]
    llm = ScriptedLLM([_answer("send_email"), _answer(NONE_AGENT, 0.95, "the prospect unsubscribes")])

    decision = decide(stage_envelopes["reply_unsubscribe"], prompt=prompt, policy="contract", llm=llm,
                      registry=registry)

    # send_email is a registry agent but its contract rejected the reply: not an allowed answer
    assert decision.agent == NONE_AGENT and decision.attempts == 2
    assert decision.candidates == survivors
    assert llm.calls[0].schema["properties"]["agent"]["enum"] == [*survivors, NONE_AGENT]
    assert "Allowed answers: active_outreach, nurture_campaign, none." in llm.calls[0].messages[-1]["content"]


def test_llm_policy_asks_the_model_even_for_a_delivery_report(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    llm = ScriptedLLM([_answer(NONE_AGENT)])
    decision = decide(stage_envelopes["delivery_report"], prompt=prompt, policy="llm", llm=llm, registry=registry)
    assert decision.agent == NONE_AGENT and decision.llm_called and len(llm.calls) == 1


def test_adecide_runs_the_same_logic(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    envelope = stage_envelopes["reply_demo"]
    script = ["not json", _answer("active_outreach", 0.9, "asks for a demo")]
    sync_llm, async_llm = ScriptedLLM(script), ScriptedLLM(script)

    sync_decision = decide(envelope, prompt=prompt, policy="contract", llm=sync_llm, registry=registry)
    async_decision = asyncio.run(adecide(envelope, prompt=prompt, policy="contract", llm=async_llm, registry=registry))

    ignore = {"latency_s", "decided_at"}
    assert async_decision.model_dump(exclude=ignore) == sync_decision.model_dump(exclude=ignore)
    assert [c.messages for c in async_llm.calls] == [c.messages for c in sync_llm.calls]
    single = asyncio.run(adecide(stage_envelopes["raw_lead"], prompt=prompt, policy="contract", llm=ScriptedLLM([]),
                                 registry=registry))
    assert single.agent == "lead_ingestion" and not single.llm_called


def test_adecide_raises_router_decision_error_too(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    with pytest.raises(RouterDecisionError):
        asyncio.run(adecide(stage_envelopes["reply_demo"], prompt=prompt, policy="llm", llm=ScriptedLLM(["x", "y"]),
                            registry=registry, answer_attempts=2))


def test_llm_errors_pass_through_untouched(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    down = LLMUnavailableError("http://127.0.0.1:1/v1", "connection refused")
    with pytest.raises(LLMUnavailableError):
        decide(stage_envelopes["reply_demo"], prompt=prompt, policy="llm", llm=ScriptedLLM([down]), registry=registry)


def test_unknown_policy_is_a_user_error(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    with pytest.raises(UserError, match="SDR_ROUTER_POLICY"):
        decide(stage_envelopes["raw_lead"], prompt=prompt, policy="random", llm=ScriptedLLM([]),  # type: ignore[arg-type]
               registry=registry)


def test_decision_round_trips_as_json(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    decision = decide(stage_envelopes["reply_later"], prompt=prompt, policy="llm",
                      llm=ScriptedLLM([_answer("nurture_campaign")]), registry=registry)
    assert RoutingDecision.model_validate_json(decision.to_bytes()) == decision


def test_router_imports_no_flink_mlflow_or_fastapi() -> None:
    """The Flink job and the lab share this code: it must import neither side's framework."""
    code = ("import sys, sdr_pipeline.router; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'pyflink', 'mlflow', 'fastapi'}); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
