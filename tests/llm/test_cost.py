"""Usage arithmetic, the price table and the cost ledger, on hand-sized numbers."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from sdr_pipeline.llm import CostLedger, Price, Usage, known_models, price_for
from sdr_pipeline.llm.cost import load_prices, prices_as_of


def test_usage_adds_up_and_totals() -> None:
    total = Usage(10, 3).add(Usage(5, 2))
    assert total == Usage(15, 5)
    assert total.total_tokens == 20
    assert Usage().total_tokens == 0


def test_price_of_a_worked_example() -> None:
    # 2,000 input tokens at $0.0004/1k + 1,000 output tokens at $0.0016/1k = $0.0008 + $0.0016
    assert Price(0.0004, 0.0016).cost_usd(Usage(2000, 1000)) == pytest.approx(0.0024)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1-nano"])
def test_the_required_hosted_models_have_positive_prices(model: str) -> None:
    price = price_for(model)
    assert price is not None and price.usd_per_1k_input > 0 and price.usd_per_1k_output > price.usd_per_1k_input


def test_a_dated_snapshot_prices_like_the_longest_matching_family() -> None:
    assert price_for("gpt-4.1-mini-2025-04-14") == price_for("gpt-4.1-mini")
    assert price_for("gpt-4.1-mini-2025-04-14") != price_for("gpt-4.1")
    assert price_for("gpt-4o-mini-2024-07-18") == price_for("gpt-4o-mini")


def test_unknown_models_have_no_price_and_local_ones_are_free() -> None:
    assert price_for("some-model-nobody-priced") is None
    assert price_for("some-model-nobody-priced", local=True) == Price(0.0, 0.0)
    for spec in known_models():
        assert load_prices()[spec.name] == Price(0.0, 0.0)


def test_prices_carry_the_date_they_were_taken() -> None:
    assert dt.date.fromisoformat(prices_as_of()) <= dt.date.today()


def test_the_ledger_counts_cached_calls_apart_and_is_thread_safe() -> None:
    ledger = CostLedger()

    def work() -> None:
        for _ in range(500):
            ledger.record(Usage(2, 1), 0.001, cached=False)
            ledger.record(Usage(2, 1), 0.001, cached=True)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.calls == 4000 and ledger.cached_calls == 2000
    assert ledger.usage == Usage(4000, 2000)
    assert ledger.spent_usd == pytest.approx(2.0)
