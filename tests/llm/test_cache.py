"""The SQLite response cache: keys, round trips, sharing between threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sdr_pipeline.llm import LLMResult, ResponseCache, Usage, cache_key

BASE = {"provider": "local", "endpoint": "local", "model": "m", "messages": [{"role": "user", "content": "hi"}],
        "schema": None, "temperature": 0.0, "max_tokens": 16, "seed": None}


def _result(content: str = '{"a": 1}') -> LLMResult:
    return LLMResult(content=content, parsed={"a": 1}, usage=Usage(7, 3), latency_s=1.5, cost_usd=0.01, model="m",
                     cached=False)


def test_every_input_changes_the_key() -> None:
    variants = [{"provider": "openai"}, {"endpoint": "https://example.test/v1"}, {"model": "n"},
                {"messages": [{"role": "user", "content": "hi!"}]}, {"schema": {"type": "object"}},
                {"temperature": 0.1}, {"max_tokens": 17}, {"seed": 3}]
    keys = {cache_key(**{**BASE, **change}) for change in variants}
    assert len(keys) == len(variants)
    assert cache_key(**BASE) not in keys
    assert cache_key(**BASE) == cache_key(**dict(reversed(list(BASE.items()))))  # order of arguments is irrelevant


def test_a_stored_result_comes_back_identical_and_flagged(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    assert cache.get("k") is None
    cache.put("k", _result())
    hit = cache.get("k")
    assert hit is not None and hit.cached is True
    assert (hit.content, hit.parsed, hit.usage, hit.cost_usd, hit.model) == ('{"a": 1}', {"a": 1}, Usage(7, 3), 0.01, "m")
    assert hit.latency_s < 1.5  # measured from the cache, not copied
    assert len(ResponseCache(tmp_path / "c.sqlite")) == 1  # persisted on disk
    assert cache.clear() == 1 and len(cache) == 0


def test_threads_share_one_cache_file(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")

    def roundtrip(i: int) -> str:
        cache.put(f"k{i}", _result(f"answer {i}"))
        hit = cache.get(f"k{i}")
        return hit.content if hit else ""

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(roundtrip, range(64)))
    assert answers == [f"answer {i}" for i in range(64)]
    assert len(cache) == 64
