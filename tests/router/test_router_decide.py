"""decide / adecide with the scripted model: validation, re-asks, policies, recorded fields."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from sdr_pipeline.contracts import DeadLetter, Envelope, Lead, RoutingDecision
from sdr_pipeline.exceptions import ContractError, LLMUnavailableError, RouterDecisionError, UserError
from sdr_pipeline.llm import LLMResult
from sdr_pipeline.llm.chat import TokenLogprob
from sdr_pipeline.llm.cost import Usage
from sdr_pipeline.llm.testing import ScriptedLLM
from sdr_pipeline.registry import NONE_AGENT, AgentRegistry
from sdr_pipeline.router import Cascade, ExamplePool, LabelledMessage, RouterPrompt, adecide, decide, load_prompt


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


def test_contract_policy_narrows_but_lets_the_model_end_a_lead(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    """One accepting contract narrows the answers to that agent + none: the model still decides (junk can end)."""
    expected = {"raw_lead": "lead_ingestion", "research_profile": "lead_scoring", "score_engage": "active_outreach",
                "score_nurture": "nurture_campaign", "outreach_email": "send_email"}
    for stage, agent in expected.items():
        llm = ScriptedLLM([_answer(agent, 0.8, "the stage's agent")])
        decision = decide(stage_envelopes[stage], prompt=prompt, policy="contract", llm=llm, registry=registry)
        assert (decision.agent, decision.candidates, decision.decided_by) == (agent, [agent], "model"), stage
        assert llm.calls[0].schema["properties"]["agent"]["enum"] == [agent, NONE_AGENT]
        assert not decision.off_contract and decision.contract_errors == {}
    junk = ScriptedLLM([_answer(NONE_AGENT, 0.9, "gibberish, not a lead")])
    decision = decide(stage_envelopes["raw_lead"], prompt=prompt, policy="contract", llm=junk, registry=registry)
    assert decision.agent == NONE_AGENT and decision.reason == "gibberish, not a lead"


def test_terminal_contract_ends_without_the_model(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    """The registry gives `none` an input contract: a delivery report ends the workflow as data, not code."""
    assert registry.none_contract == "delivery_reported"
    for policy in ("contract", "strict"):
        llm = ScriptedLLM([])  # any call would fail the test
        decision = decide(stage_envelopes["delivery_report"], prompt=prompt, policy=policy, llm=llm, registry=registry)
        assert (decision.agent, decision.confidence, decision.decided_by, decision.llm_called) == (
            NONE_AGENT, 1.0, "contract", False)
        assert "delivery_reported" in decision.reason and decision.candidates == []


def _drifted_draft(stage_envelopes: dict[str, Envelope]) -> Envelope:
    return stage_envelopes["outreach_email"].model_copy(update={"context": {
        "emailSubject": "Streaming truck telemetry", "emailBody": "Hi Priya, would a short call help?"}})


def test_off_contract_message_is_asked_among_every_agent_and_flagged(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A draft with another team's keys satisfies no contract: it is not ended, the model decides among all."""
    llm = ScriptedLLM([_answer("send_email", 0.9, "an unsent draft")])
    with caplog.at_level("WARNING", logger="sdr_pipeline.router.decision"):
        decision = decide(_drifted_draft(stage_envelopes), prompt=prompt, policy="contract", llm=llm,
                          registry=registry)
    assert decision.agent == "send_email" and decision.off_contract and decision.decided_by == "model"
    assert decision.candidates == list(registry.names)
    assert llm.calls[0].schema["properties"]["agent"]["enum"] == [*registry.names, NONE_AGENT]
    assert set(decision.contract_errors) == {*registry.names, NONE_AGENT}
    assert "drafted_emails" in decision.contract_errors["send_email"]
    assert "off-contract" in decision.reason and "active_outreach" in decision.reason
    warning = next(record for record in caplog.records if "off-contract" in record.getMessage())
    assert "producer active_outreach" in warning.getMessage() and "drafted_emails" in warning.getMessage()


def test_strict_policy_refuses_an_off_contract_message_with_every_reason(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    envelope = _drifted_draft(stage_envelopes)
    with pytest.raises(ContractError) as caught:
        decide(envelope, prompt=prompt, policy="strict", llm=ScriptedLLM([]), registry=registry)
    for name in (*registry.names, NONE_AGENT):
        assert f"{name}: " in str(caught.value)
    assert caught.value.message_id == envelope.message_id and caught.value.lead_id == envelope.lead_id
    letter = DeadLetter.from_error(envelope.to_json(), caught.value, stage="routing")
    assert letter.error_type == "ContractError" and "strict policy" in letter.reason


def _labelled(stage_envelopes: dict[str, Envelope]) -> list[LabelledMessage]:
    """A tiny pool: each stage envelope a few times with its label, texts varied so folds differ."""
    labels = {"raw_lead": "lead_ingestion", "research_profile": "lead_scoring", "score_engage": "active_outreach",
              "score_nurture": "nurture_campaign", "outreach_email": "send_email", "reply_unsubscribe": NONE_AGENT}
    pool = []
    for stage, label in labels.items():
        for copy in range(4):
            envelope = stage_envelopes[stage].model_copy(update={"lead": Lead(name=f"Person {copy}")})
            pool.append(LabelledMessage(envelope, label, f"{stage}-{copy}"))
    return pool


def test_cascade_classifier_answers_when_sure_the_model_otherwise_and_review_when_unsure(
    prompt: RouterPrompt, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    pool = ExamplePool(_labelled(stage_envelopes))
    classifier = pool.classifier()
    envelope = stage_envelopes["research_profile"]
    probabilities = classifier.probabilities(envelope)
    assert max(probabilities, key=probabilities.get) == "lead_scoring"

    sure = decide(envelope, prompt=prompt, policy="cascade", llm=ScriptedLLM([]), registry=registry, pool=pool,
                  cascade=Cascade(classifier, accept_at=0.0, review_below=0.0))
    assert (sure.agent, sure.decided_by, sure.llm_called) == ("lead_scoring", "classifier", False)
    assert sure.confidence == pytest.approx(probabilities["lead_scoring"]) and sure.pool_hash == pool.hash

    unsure = Cascade(classifier, accept_at=1.0, review_below=0.5)
    asked = decide(envelope, prompt=prompt, policy="cascade", llm=ScriptedLLM([_answer("lead_scoring", 0.9, "profile")]),
                   registry=registry, pool=pool, cascade=unsure)
    assert (asked.agent, asked.decided_by, asked.needs_review) == ("lead_scoring", "model", False)
    doubtful = decide(envelope, prompt=prompt, policy="cascade", llm=ScriptedLLM([_answer("none", 0.2, "unsure")]),
                      registry=registry, pool=pool, cascade=unsure)
    assert doubtful.needs_review and doubtful.confidence == pytest.approx(0.2)
    with pytest.raises(UserError, match="cascade policy needs"):
        decide(envelope, prompt=prompt, policy="cascade", llm=ScriptedLLM([]), registry=registry)


def test_confidence_comes_from_the_answer_tokens_log_probabilities(
    prompts_dir: Path, registry: AgentRegistry, stage_envelopes: dict[str, Envelope],
) -> None:
    """Not the number the model writes: exp(sum of log-probabilities of the tokens that spell the name)."""
    short = load_prompt("router", "v6", prompts_dir=prompts_dir)
    tokens = (TokenLogprob('"', -0.01), TokenLogprob("lead", math.log(0.6)), TokenLogprob("_sc", math.log(0.9)),
              TokenLogprob("oring", 0.0), TokenLogprob('"', -0.02))
    result = LLMResult(content='"lead_scoring"', parsed="lead_scoring", usage=Usage(50, 5), latency_s=0.1,
                       cost_usd=0.0, model="m", cached=False, logprobs=tokens)
    llm = ScriptedLLM([result])
    decision = decide(stage_envelopes["research_profile"], prompt=short, policy="llm", llm=llm, registry=registry)
    assert decision.agent == "lead_scoring" and decision.confidence == pytest.approx(0.54)
    assert llm.calls[0].schema == {"type": "string", "enum": [*registry.names, NONE_AGENT]}
    assert llm.calls[0].max_tokens <= 16, "a name needs only a handful of tokens"


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
    ended = asyncio.run(adecide(stage_envelopes["delivery_report"], prompt=prompt, policy="contract",
                                llm=ScriptedLLM([]), registry=registry))
    assert ended.agent == NONE_AGENT and not ended.llm_called


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
