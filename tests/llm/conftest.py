"""Fixtures of the LLM unit tests: a fake OpenAI endpoint and clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai_server import FAST_RETRY, FakeEndpoint, start_fake_endpoint

from sdr_pipeline.llm import LLMClient, ResponseCache
from sdr_pipeline.settings import Settings


@pytest.fixture
def fake_endpoint() -> Iterator[FakeEndpoint]:
    endpoint, server = start_fake_endpoint()
    yield endpoint
    server.shutdown()
    server.server_close()


@pytest.fixture
def hosted_settings(fake_endpoint: FakeEndpoint, tmp_path: Path) -> Settings:
    """Settings of a hosted provider (gpt-4o-mini) whose base URL is the fake endpoint."""
    return Settings(_env_file=None, llm_provider="openai", llm_model="gpt-4o-mini", llm_base_url=fake_endpoint.url,
                    llm_api_key="sk-test-SECRET-1234567890", llm_timeout_s=2.0, llm_max_attempts=3,
                    cache_dir=tmp_path / "cache", state_dir=tmp_path / "state")


@pytest.fixture
def make_test_client(hosted_settings: Settings, tmp_path: Path):  # noqa: ANN201
    """Build an LLMClient on the fake endpoint with quick backoff; `cached=True` adds a fresh cache."""

    def build(settings: Settings | None = None, *, cached: bool = False) -> LLMClient:
        cache = ResponseCache(tmp_path / "llm-cache.sqlite") if cached else None
        return LLMClient(settings or hosted_settings, cache=cache, retry=FAST_RETRY)

    return build
