"""`LLMClient`: the one chat client used by the router, the agents and the evaluation lab.

It talks to any OpenAI-compatible endpoint through the `openai` package: our local
llama-server by default, or a hosted provider when `SDR_LLM_PROVIDER=openai` and
`SDR_LLM_BASE_URL` / `SDR_LLM_API_KEY` say so (OpenAI, Azure OpenAI's v1 endpoint, vLLM,
Ollama). Every call has a timeout, goes through the one retry policy, is priced from
the price table, is recorded in the client's cost ledger and, if enabled, is answered
from or stored in the response cache. The API key never appears in logs or errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai

from sdr_pipeline.exceptions import LLMUnavailableError
from sdr_pipeline.llm.cache import ResponseCache, cache_key
from sdr_pipeline.llm.chat import LLMResult, TokenLogprob, decode_content, response_format
from sdr_pipeline.llm.cost import CostLedger, Price, Usage, price_for
from sdr_pipeline.llm.retry import RetryPolicy
from sdr_pipeline.settings import Settings

__all__ = ["LLMClient", "make_client", "response_cache_path"]

logger = logging.getLogger(__name__)

_WRAPPED = "answer"
"""Key under which a hosted API returns a choice-of-strings answer (its schemas need an object root)."""
_LOCAL_KEY = "sk-local-no-key"
"""llama-server ignores the key, but the openai package insists on one."""


def response_cache_path(settings: Settings) -> Path:
    """Where `make_client` keeps the response cache: outside the repo, shared by checkouts."""
    return settings.cache_dir / "llm-cache.sqlite"


def _public_endpoint(url: str) -> str:
    """The endpoint as safe to show: no user-info, no query string (either may hold a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class LLMClient:
    """Chat completions with constrained JSON output, retries, cost and an optional cache."""

    def __init__(self, settings: Settings, *, cache: ResponseCache | None = None, retry: RetryPolicy | None = None,
                 ledger: CostLedger | None = None) -> None:
        self.provider = settings.llm_provider
        self.model = settings.llm_model
        self._base_url = settings.llm_endpoint
        self.endpoint = _public_endpoint(self._base_url)  # safe to show: no user-info, no query string
        self.timeout_s = settings.llm_timeout_s
        self.cache = cache
        self.retry = retry or RetryPolicy.from_settings(settings)
        self.ledger = ledger or CostLedger()
        # A model we serve ourselves (wherever it runs) is free and cached under one endpoint name.
        self._local = settings.llm_provider == "local"
        self._api_key = settings.llm_api_key.get_secret_value() or _LOCAL_KEY
        self._secret = settings.llm_api_key.get_secret_value()
        self._cache_endpoint = "local" if self._local else self.endpoint
        price = price_for(self.model, local=self._local)
        if price is None:
            logger.warning("no price for model %s in the price table; its calls are counted at $0", self.model)
        self._price: Price = price or Price(0.0, 0.0)
        self._sync_client: openai.OpenAI | None = None
        self._async_clients: dict[int, openai.AsyncOpenAI] = {}

    def __repr__(self) -> str:  # no key in reprs either
        return f"LLMClient(provider={self.provider!r}, model={self.model!r}, endpoint={self.endpoint!r})"

    # --- the ChatClient protocol ------------------------------------------------------
    def chat(self, messages: list[dict[str, str]], *, schema: dict | None = None, schema_name: str = "answer",
             temperature: float = 0.0, max_tokens: int = 512, seed: int | None = None,
             top_logprobs: int = 0) -> LLMResult:
        """One completion; with `schema`, the answer is JSON constrained to it and decoded into `parsed`."""
        key = self._key(messages, schema, temperature, max_tokens, seed, top_logprobs)
        hit = self._from_cache(key)
        if hit is not None:
            return hit
        request = self._request(messages, schema, schema_name, temperature, max_tokens, seed, top_logprobs)
        started = time.perf_counter()
        try:
            for attempt in self.retry.retrying():
                with attempt:
                    response = self._client().chat.completions.create(**request)
        except openai.OpenAIError as error:
            raise self._unavailable(error) from None
        return self._finish(response, schema, time.perf_counter() - started, key)

    async def achat(self, messages: list[dict[str, str]], *, schema: dict | None = None, schema_name: str = "answer",
                    temperature: float = 0.0, max_tokens: int = 512, seed: int | None = None,
                    top_logprobs: int = 0) -> LLMResult:
        """The same as `chat`, awaiting the endpoint instead of blocking."""
        key = self._key(messages, schema, temperature, max_tokens, seed, top_logprobs)
        hit = self._from_cache(key)
        if hit is not None:
            return hit
        request = self._request(messages, schema, schema_name, temperature, max_tokens, seed, top_logprobs)
        started = time.perf_counter()
        try:
            async for attempt in self.retry.async_retrying():
                with attempt:
                    response = await self._async_client().chat.completions.create(**request)
        except openai.OpenAIError as error:
            raise self._unavailable(error) from None
        return self._finish(response, schema, time.perf_counter() - started, key)

    # --- the parts ------------------------------------------------------------------------
    def _client(self) -> openai.OpenAI:
        if self._sync_client is None:
            self._sync_client = openai.OpenAI(base_url=self._base_url, api_key=self._api_key,
                                              timeout=self.timeout_s, max_retries=0)
        return self._sync_client

    def _async_client(self) -> openai.AsyncOpenAI:
        """One async client per event loop: an HTTP connection pool cannot outlive its loop.

        The plain pool (not openai's default wrapper) matters: the wrapper's finaliser schedules
        its close on whatever loop is running when it is collected, which fails once its own
        loop is gone.
        """
        loop = id(asyncio.get_running_loop())
        client = self._async_clients.get(loop)
        if client is None:
            client = openai.AsyncOpenAI(base_url=self._base_url, api_key=self._api_key, timeout=self.timeout_s,
                                        max_retries=0, http_client=openai.DefaultAsyncHttpxClient())
            self._async_clients = {loop: client}  # drop clients of finished loops
        return client

    def _key(self, messages: list[dict[str, str]], schema: dict | None, temperature: float, max_tokens: int,
             seed: int | None, top_logprobs: int) -> str | None:
        if self.cache is None:
            return None
        return cache_key(provider=self.provider, endpoint=self._cache_endpoint, model=self.model, messages=messages,
                         schema=schema, temperature=temperature, max_tokens=max_tokens, seed=seed,
                         top_logprobs=top_logprobs)

    def _from_cache(self, key: str | None) -> LLMResult | None:
        if key is None or self.cache is None:
            return None
        hit = self.cache.get(key)
        if hit is not None:
            self.ledger.record(hit.usage, hit.cost_usd, cached=True)
        return hit

    def _request(self, messages: list[dict[str, str]], schema: dict | None, schema_name: str, temperature: float,
                 max_tokens: int, seed: int | None, top_logprobs: int) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature,
                                   "max_tokens": max_tokens}
        if seed is not None:
            request["seed"] = seed
        if top_logprobs > 0:
            request["logprobs"] = True
            request["top_logprobs"] = top_logprobs
        choices = _string_choices(schema)
        if choices is not None and self._local:
            # llama-server wraps a non-object JSON answer in a ```json fence (five more tokens to
            # generate on a CPU); a grammar of exactly the choices costs only the name itself.
            request["extra_body"] = {"grammar": _choice_grammar(choices)}
            return request
        if choices is not None:  # hosted APIs want an object at the root; `_finish` unwraps it
            schema = {"type": "object", "properties": {_WRAPPED: schema}, "required": [_WRAPPED],
                      "additionalProperties": False}
        fmt = response_format(schema, schema_name)
        if fmt is not None:
            request["response_format"] = fmt
        return request

    def _finish(self, response: Any, schema: dict | None, latency_s: float, key: str | None) -> LLMResult:
        if not response.choices:
            raise LLMUnavailableError(self.endpoint, "the response had no choices", fix="check the model and endpoint")
        content = response.choices[0].message.content or ""
        if not self._local and _string_choices(schema) is not None:
            wrapped = decode_content(content, schema={})
            if isinstance(wrapped, dict) and _WRAPPED in wrapped:
                content = json.dumps(wrapped[_WRAPPED])
        reported = response.usage
        usage = Usage(getattr(reported, "prompt_tokens", 0) or 0, getattr(reported, "completion_tokens", 0) or 0)
        result = LLMResult(content=content, parsed=decode_content(content, schema), usage=usage, latency_s=latency_s,
                           cost_usd=self._price.cost_usd(usage), model=response.model or self.model, cached=False,
                           logprobs=_token_logprobs(response.choices[0]))
        self.ledger.record(usage, result.cost_usd, cached=False)
        # An answer that broke its schema is not worth keeping: the next attempt should ask again.
        if key is not None and self.cache is not None and (schema is None or result.parsed is not None):
            self.cache.put(key, result)
        logger.debug("LLM %s answered in %.2f s (%d+%d tokens)", result.model, latency_s,
                     usage.prompt_tokens, usage.completion_tokens)
        return result

    def _unavailable(self, error: openai.OpenAIError) -> LLMUnavailableError:
        """Translate an SDK error into ours, with nothing secret in it."""
        attempts = self.retry.max_attempts
        if isinstance(error, openai.APITimeoutError):
            return LLMUnavailableError(self.endpoint, f"no answer within {self.timeout_s:g} s ({attempts} attempts)",
                                       timeout_s=self.timeout_s,
                                       fix="raise SDR_LLM_TIMEOUT_S or check the server load")
        if isinstance(error, openai.APIConnectionError):
            fix = "start it with `sdr-pipeline llm serve`" if self._local else "check SDR_LLM_BASE_URL and the network"
            return LLMUnavailableError(self.endpoint, f"cannot connect ({attempts} attempts)", fix=fix)
        if isinstance(error, openai.APIStatusError):
            status = error.status_code
            if status in (401, 403):
                return LLMUnavailableError(self.endpoint, f"the endpoint refused our credentials (HTTP {status})",
                                           status_code=status, fix="check SDR_LLM_API_KEY")
            if status == 404:
                return LLMUnavailableError(self.endpoint, f"model or path not found (HTTP 404) for model {self.model}",
                                           status_code=status, fix="check SDR_LLM_MODEL and SDR_LLM_BASE_URL")
            detail = self._scrub(str(getattr(error, "message", "") or ""))[:300]
            retried = f" after {attempts} attempts" if status >= 500 or status == 429 else ""
            return LLMUnavailableError(self.endpoint, f"HTTP {status}{retried}: {detail}", status_code=status,
                                       fix="see the server log" if self._local else "check the provider's status")
        return LLMUnavailableError(self.endpoint, f"{type(error).__name__}: {self._scrub(str(error))[:300]}")

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


def _string_choices(schema: dict | None) -> list[str] | None:
    """The allowed strings when the schema says "exactly one of these strings", else None."""
    if schema and schema.get("type") == "string" and isinstance(schema.get("enum"), list):
        return [str(item) for item in schema["enum"]]
    return None


def _choice_grammar(choices: list[str]) -> str:
    """A GBNF grammar whose only sentences are the JSON strings of `choices`."""
    def literal(text: str) -> str:
        return '"' + json.dumps(text).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "root ::= " + " | ".join(literal(choice) for choice in choices)


def _token_logprobs(choice: Any) -> tuple[TokenLogprob, ...]:
    """The choice's per-token log-probabilities in the OpenAI shape, or () when none came back."""
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    return tuple(
        TokenLogprob(item.token, float(item.logprob),
                     tuple((alt.token, float(alt.logprob)) for alt in (item.top_logprobs or [])))
        for item in content
    )


def make_client(settings: Settings, *, use_cache: bool | None = None) -> LLMClient:
    """The client the settings describe; `use_cache` overrides `settings.llm_cache`."""
    enabled = settings.llm_cache if use_cache is None else use_cache
    cache = ResponseCache(response_cache_path(settings)) if enabled else None
    return LLMClient(settings, cache=cache)
