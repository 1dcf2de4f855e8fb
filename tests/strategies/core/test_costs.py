"""Cost models: venue fee schedules with overrides, exact slippage, refused negative settings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from strategies.core.costs import ZERO_FEES, CostError, CostModel, FeeModel, FeeSchedule
from strategies.core.intents import Side
from strategies.core.markets import Market
from tests.strategies.bars import BINANCE, BINANCE_PERP, BYBIT_PERP, COINBASE

D = Decimal


def test_venue_base_tiers() -> None:
    costs = CostModel()
    assert (costs.fees(BINANCE).maker, costs.fees(BINANCE).taker) == (D("0.001"), D("0.001"))
    assert (costs.fees(BINANCE_PERP).maker, costs.fees(BINANCE_PERP).taker) == (D("0.0002"), D("0.0005"))
    assert (costs.fees(BYBIT_PERP).maker, costs.fees(BYBIT_PERP).taker) == (D("0.0002"), D("0.00055"))
    assert (costs.fees(COINBASE).maker, costs.fees(COINBASE).taker) == (D("0.004"), D("0.006"))


def test_zero_fee_model() -> None:
    assert CostModel(fee_model=FeeModel.ZERO).fees(COINBASE) is ZERO_FEES


def test_a_venue_without_a_schedule_needs_one() -> None:
    with pytest.raises(CostError, match="no fee schedule for kraken spot"):
        CostModel().fees(Market("kraken", "BTC/USDT"))
    given = CostModel(fee_overrides={"kraken": FeeSchedule(D("0.0016"), D("0.0026"))})
    assert given.fees(Market("kraken", "BTC/USDT")).taker == D("0.0026")


def test_slippage_moves_taker_prices_against_the_order_exactly() -> None:
    costs = CostModel(slippage_bps=D("2.5"))
    assert costs.taker_price(D("40000.01"), Side.BUY) == D("40010.0100025")
    assert costs.taker_price(D("40000.01"), Side.SELL) == D("39990.0099975")
    assert CostModel().taker_price(D("1.23"), Side.BUY) == D("1.23")


@pytest.mark.parametrize(("field", "value"), [("slippage_bps", D("-1")), ("latency_ms", -1)])
def test_negative_slippage_or_latency_is_refused(field: str, value: object) -> None:
    with pytest.raises(CostError):
        CostModel(**{field: value})  # type: ignore[arg-type]


def test_json() -> None:
    costs = CostModel(slippage_bps=D("1.5"), latency_ms=250, fee_overrides={"binance": FeeSchedule(D(0), D("0.0004"))})
    assert costs.json() == {
        "fee_model": "venue",
        "slippage_bps": "1.5",
        "latency_ms": 250,
        "funding": True,
        "fee_overrides": {"binance": {"maker": "0", "taker": "0.0004"}},
    }
