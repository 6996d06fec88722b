"""LLMClient against a local HTTP server that fails on purpose: retries, timeouts, secrets, cost, cache."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fake_openai_server import FAST_RETRY, Reply

from sdr_pipeline.exceptions import LLMUnavailableError
from sdr_pipeline.llm import ChatClient, LLMClient, Usage, make_client
from sdr_pipeline.settings import Settings

MESSAGES = [{"role": "system", "content": "Route the lead."}, {"role": "user", "content": "Please unsubscribe me."}]
SCHEMA = {"type": "object", "properties": {"agent": {"type": "string", "enum": ["none", "send_email"]}},
          "required": ["agent"], "additionalProperties": False}
SECRET = "sk-test-SECRET-1234567890"


def test_the_client_satisfies_the_chat_protocol(make_test_client) -> None:
    assert isinstance(make_test_client(), ChatClient)


def test_schema_becomes_a_strict_json_schema_response_format_and_is_decoded(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(content='{"agent": "none"}'))
    result = make_test_client().chat(MESSAGES, schema=SCHEMA, schema_name="route", max_tokens=20, seed=7)
    sent = fake_endpoint.requests[0]
    assert sent["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "route", "schema": SCHEMA, "strict": True}}
    assert (sent["max_tokens"], sent["seed"], sent["temperature"]) == (20, 7, 0.0)
    assert result.parsed == {"agent": "none"}
    assert result.content == '{"agent": "none"}'
    assert result.cached is False and result.latency_s > 0


def test_without_a_schema_nothing_is_parsed_and_no_format_is_sent(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(content='{"looks": "like json"}'))
    result = make_test_client().chat(MESSAGES)
    assert "response_format" not in fake_endpoint.requests[0]
    assert "seed" not in fake_endpoint.requests[0]
    assert result.parsed is None


def test_an_answer_that_is_not_json_comes_back_unparsed(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(content="none, I think"))
    result = make_test_client().chat(MESSAGES, schema=SCHEMA)
    assert result.parsed is None
    assert result.content == "none, I think"


def test_a_500_is_retried_then_the_call_succeeds(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(status=500), Reply(status=503), Reply(content='{"agent": "send_email"}'))
    result = make_test_client().chat(MESSAGES, schema=SCHEMA)
    assert len(fake_endpoint.requests) == 3
    assert result.parsed == {"agent": "send_email"}


def test_a_429_is_retried(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(status=429), Reply(content='{"agent": "none"}'))
    assert make_test_client().chat(MESSAGES, schema=SCHEMA).parsed == {"agent": "none"}
    assert len(fake_endpoint.requests) == 2


def test_persistent_5xx_ends_in_llm_unavailable_after_max_attempts(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(*[Reply(status=502)] * 3)
    with pytest.raises(LLMUnavailableError) as caught:
        make_test_client().chat(MESSAGES)
    assert len(fake_endpoint.requests) == 3
    assert caught.value.status_code == 502
    assert "3 attempts" in str(caught.value)


def test_a_bad_request_is_not_retried(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(status=400))
    with pytest.raises(LLMUnavailableError) as caught:
        make_test_client().chat(MESSAGES)
    assert len(fake_endpoint.requests) == 1
    assert caught.value.status_code == 400


def test_a_timeout_is_retried_then_raises_llm_unavailable(fake_endpoint, hosted_settings, make_test_client) -> None:
    settings = hosted_settings.model_copy(update={"llm_timeout_s": 0.3})
    fake_endpoint.script(*[Reply(delay_s=1.0)] * 3)
    with pytest.raises(LLMUnavailableError) as caught:
        make_test_client(settings).chat(MESSAGES)
    assert len(fake_endpoint.requests) == 3
    assert caught.value.timeout_s == 0.3
    assert "no answer within 0.3 s" in str(caught.value)


def test_a_slow_first_answer_is_retried_and_the_second_succeeds(fake_endpoint, hosted_settings,
                                                                 make_test_client) -> None:
    settings = hosted_settings.model_copy(update={"llm_timeout_s": 0.3})
    fake_endpoint.script(Reply(delay_s=1.0), Reply(content='{"agent": "none"}'))
    assert make_test_client(settings).chat(MESSAGES, schema=SCHEMA).parsed == {"agent": "none"}


def test_no_server_at_all_names_the_serve_command(tmp_path) -> None:
    settings = Settings(_env_file=None, llm_port=1, llm_max_attempts=2, llm_timeout_s=1.0, cache_dir=tmp_path)
    with pytest.raises(LLMUnavailableError, match="sdr-pipeline llm serve"):
        LLMClient(settings, retry=FAST_RETRY).chat(MESSAGES)


def test_the_api_key_is_sent_but_never_shown(fake_endpoint, make_test_client, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error"}}
    fake_endpoint.script(Reply(status=401, body=echo))
    client = make_test_client()
    with pytest.raises(LLMUnavailableError) as unauthorized:
        client.chat(MESSAGES)
    assert fake_endpoint.headers[0]["authorization"] == f"Bearer {SECRET}"
    fake_endpoint.script(*[Reply(status=500, body=echo)] * 3, Reply(status=400, body=echo))
    with pytest.raises(LLMUnavailableError) as server_error:
        client.chat(MESSAGES)
    with pytest.raises(LLMUnavailableError) as bad_request:
        client.chat(MESSAGES)
    for error in (unauthorized.value, server_error.value, bad_request.value):
        assert SECRET not in str(error) and SECRET not in repr(error.__dict__)
    assert "SDR_LLM_API_KEY" in str(unauthorized.value)
    assert SECRET not in repr(client)
    assert SECRET not in caplog.text


def test_cost_is_the_list_price_of_the_reported_tokens(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(prompt_tokens=1000, completion_tokens=500))
    client = make_test_client()
    result = client.chat(MESSAGES)
    assert result.usage == Usage(1000, 500)
    assert result.usage.total_tokens == 1500
    # gpt-4o-mini: $0.00015 per 1k input, $0.0006 per 1k output
    assert result.cost_usd == pytest.approx(0.00015 + 0.0003)
    assert client.ledger.spent_usd == pytest.approx(0.00045)
    assert client.ledger.usage == Usage(1000, 500)


def test_local_models_cost_nothing(fake_endpoint, hosted_settings, make_test_client) -> None:
    settings = hosted_settings.model_copy(update={"llm_provider": "local", "llm_model": "smollm2-135m-instruct-q4_1"})
    fake_endpoint.script(Reply(prompt_tokens=1000, completion_tokens=500))
    assert make_test_client(settings).chat(MESSAGES).cost_usd == 0.0


def test_a_cache_hit_returns_the_same_result_without_calling_the_server(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(content='{"agent": "none"}', prompt_tokens=40, completion_tokens=6))
    client = make_test_client(cached=True)
    first = client.chat(MESSAGES, schema=SCHEMA, seed=1)
    second = client.chat(MESSAGES, schema=SCHEMA, seed=1)
    assert len(fake_endpoint.requests) == 1
    assert second.cached is True and first.cached is False
    assert (second.content, second.parsed, second.usage, second.model, second.cost_usd) == \
        (first.content, first.parsed, first.usage, first.model, first.cost_usd)
    assert client.ledger.calls == 2 and client.ledger.cached_calls == 1
    assert client.ledger.usage == Usage(40, 6)  # the hit spent nothing


def test_any_parameter_change_misses_the_cache(fake_endpoint, make_test_client) -> None:
    client = make_test_client(cached=True)
    client.chat(MESSAGES, schema=SCHEMA, seed=1)
    client.chat(MESSAGES, schema=SCHEMA, seed=2)
    client.chat(MESSAGES, schema=SCHEMA, seed=1, max_tokens=10)
    client.chat(MESSAGES, schema=SCHEMA, seed=1, temperature=0.5)
    client.chat(MESSAGES[:1], schema=SCHEMA, seed=1)
    client.chat(MESSAGES, seed=1)
    assert len(fake_endpoint.requests) == 6


def test_an_answer_that_broke_its_schema_is_not_cached(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(content="not json"), Reply(content='{"agent": "none"}'))
    client = make_test_client(cached=True)
    client.chat(MESSAGES, schema=SCHEMA)
    assert client.chat(MESSAGES, schema=SCHEMA).parsed == {"agent": "none"}
    assert len(fake_endpoint.requests) == 2


def test_make_client_use_cache_false_bypasses_the_cache(fake_endpoint, hosted_settings) -> None:
    cached = make_client(hosted_settings, use_cache=True)
    cached.chat(MESSAGES)
    assert cached.chat(MESSAGES).cached is True
    assert (hosted_settings.cache_dir / "llm-cache.sqlite").exists()
    uncached = make_client(hosted_settings, use_cache=False)
    assert uncached.cache is None
    assert uncached.chat(MESSAGES).cached is False
    assert len(fake_endpoint.requests) == 2


def test_achat_retries_and_returns_the_same_shape(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(status=500), Reply(content='{"agent": "send_email"}'))
    client = make_test_client()
    result = asyncio.run(client.achat(MESSAGES, schema=SCHEMA))
    assert result.parsed == {"agent": "send_email"}
    assert len(fake_endpoint.requests) == 2
    # a second event loop gets its own connection pool
    assert asyncio.run(client.achat(MESSAGES)).cached is False


def test_concurrent_achat_calls(fake_endpoint, make_test_client) -> None:
    client = make_test_client(cached=True)

    async def many() -> list:
        return await asyncio.gather(*(client.achat([{"role": "user", "content": f"lead {i}"}]) for i in range(8)))

    results = asyncio.run(many())
    assert len(results) == 8 and len(fake_endpoint.requests) == 8
    assert len(client.cache) == 8


CHOICE = {"type": "string", "enum": ["none", "send_email"]}


def test_a_choice_of_names_is_a_grammar_for_our_llama_server_and_log_probabilities_come_back(
        fake_endpoint, hosted_settings, make_test_client) -> None:
    """llama-server would wrap a non-object JSON answer in a code fence; a grammar costs only the name."""
    local = hosted_settings.model_copy(update={"llm_provider": "local"})
    fake_endpoint.script(Reply(content='"none"', logprobs=[('"', -0.01), ("none", -0.2), ('"', 0.0)]))
    result = make_test_client(local).chat(MESSAGES, schema=CHOICE, max_tokens=8, top_logprobs=3)
    sent = fake_endpoint.requests[0]
    assert sent["grammar"] == 'root ::= "\\"none\\"" | "\\"send_email\\""' and "response_format" not in sent
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 3)
    assert result.parsed == "none" and [t.token for t in result.logprobs] == ['"', "none", '"']
    assert result.logprobs[1].logprob == pytest.approx(-0.2) and result.logprobs[1].top == (("none", -0.2),)


def test_a_hosted_api_gets_the_choice_as_an_object_and_the_answer_is_unwrapped(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(content='{"answer": "send_email"}'))
    result = make_test_client().chat(MESSAGES, schema=CHOICE)
    wrapped = fake_endpoint.requests[0]["response_format"]["json_schema"]["schema"]
    assert wrapped["properties"]["answer"] == CHOICE and "grammar" not in fake_endpoint.requests[0]
    assert result.content == '"send_email"' and result.parsed == "send_email"


def test_log_probabilities_survive_the_cache(fake_endpoint, make_test_client) -> None:
    fake_endpoint.script(Reply(content='{"agent": "none"}', logprobs=[("{", -0.1), ("none", -0.5)]))
    client = make_test_client(cached=True)
    first = client.chat(MESSAGES, schema=SCHEMA, top_logprobs=2)
    second = client.chat(MESSAGES, schema=SCHEMA, top_logprobs=2)
    assert second.cached and second.logprobs == first.logprobs and len(fake_endpoint.requests) == 1
