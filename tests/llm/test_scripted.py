"""ScriptedLLM: the stand-in other areas test with."""

from __future__ import annotations

import asyncio

import pytest

from sdr_pipeline.exceptions import LLMUnavailableError
from sdr_pipeline.llm import ChatClient
from sdr_pipeline.llm.testing import ScriptedLLM

SCHEMA = {"type": "object", "properties": {"agent": {"type": "string"}}}


def test_answers_in_order_and_records_calls() -> None:
    llm = ScriptedLLM([{"agent": "lead_scoring"}, "free text"])
    assert isinstance(llm, ChatClient)
    first = llm.chat([{"role": "user", "content": "lead one"}], schema=SCHEMA, seed=3)
    second = asyncio.run(llm.achat([{"role": "user", "content": "lead two"}], max_tokens=9))
    assert first.content == '{"agent": "lead_scoring"}' and first.parsed == {"agent": "lead_scoring"}
    assert second.content == "free text" and second.parsed is None
    assert [call.messages[0]["content"] for call in llm.calls] == ["lead one", "lead two"]
    assert (llm.calls[0].schema, llm.calls[0].seed, llm.calls[1].max_tokens) == (SCHEMA, 3, 9)
    assert first.usage.total_tokens > 0 and first.cost_usd == 0.0 and not first.cached
    assert llm.remaining == 0


def test_a_scripted_exception_is_raised() -> None:
    llm = ScriptedLLM([LLMUnavailableError("scripted", "down on purpose")])
    with pytest.raises(LLMUnavailableError, match="down on purpose"):
        llm.chat([{"role": "user", "content": "x"}])


def test_running_out_of_script_fails_loudly() -> None:
    llm = ScriptedLLM(["only one"])
    llm.chat([{"role": "user", "content": "a"}])
    with pytest.raises(AssertionError, match="ran out of responses at call 2"):
        llm.chat([{"role": "user", "content": "b"}])
