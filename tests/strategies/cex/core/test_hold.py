"""``hold`` against its closed form: q = cash / (O (1 + s) (1 + f)), NAV q * C, nothing left in cash."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, localcontext

import pytest

from strategies.cex.core.hold import Hold, HoldParams
from strategies.core.costs import BPS, CostModel, FeeModel, FeeSchedule
from strategies.core.intents import Side
from strategies.core.portfolio import ACCOUNTING, NAV_QUANTUM
from strategies.core.risk import RiskLimits
from strategies.registry import strategy_build
from tests.strategies.bars import BINANCE, BYBIT, COINBASE, START_MS, bar_close, bar_open, random_series
from tests.strategies.core.engine_runs import engine_run

D = Decimal


@pytest.mark.parametrize(
    ("costs", "fee", "slippage"),
    [
        (CostModel(fee_model=FeeModel.ZERO), D(0), D(0)),
        (CostModel(), D("0.001"), D(0)),
        (CostModel(slippage_bps=D("2.5")), D("0.001"), D("2.5")),
        (CostModel(fee_overrides={"binance": FeeSchedule(D(0), D("0.00075"))}, slippage_bps=D(7)), D("0.00075"), D(7)),
    ],
)
@pytest.mark.parametrize("cash", ["10000", "12345.678901"])
def test_hold_matches_its_closed_form_at_every_step(
    costs: CostModel, fee: Decimal, slippage: Decimal, cash: str
) -> None:
    series = random_series(BINANCE, 200, seed=5)
    strategy = Hold(HoldParams(), [BINANCE, BYBIT])
    _, result = engine_run(
        strategy, series, random_series(BYBIT, 200, seed=6), cash=cash, costs=costs, limits=RiskLimits()
    )
    with localcontext(ACCOUNTING):
        price = bar_open(series, 0) * (1 + slippage * BPS)
        floor = ACCOUNTING.copy()
        floor.rounding = ROUND_FLOOR
        quantity = floor.divide(D(cash), price * (1 + fee))  # rounded down at the 34th digit
        [trade] = result.trades
        assert (trade.time_ms, trade.side, trade.price, trade.quantity) == (START_MS, Side.BUY, price, quantity)
        assert trade.fee == (D(cash) - quantity * price if fee else 0)  # what the cash leaves after the notional
        assert abs(trade.fee - quantity * price * fee) < D("1e-25")
        assert result.final_nav == (quantity * bar_close(series, 199)).quantize(NAV_QUANTUM)
        assert result.nav == [(quantity * bar_close(series, i)).quantize(NAV_QUANTUM) for i in range(200)]
    assert result.refusals == []
    assert result.unfilled == 0


def test_hold_spends_all_the_cash() -> None:
    series = random_series(COINBASE, 50, seed=8)
    engine, _ = engine_run(Hold(HoldParams(), [COINBASE]), series, costs=CostModel(slippage_bps=D(3)))
    assert engine.portfolio.cash_at("coinbase") == 0


def test_hold_is_registered_and_takes_no_parameters() -> None:
    strategy = strategy_build("hold", {}, [BINANCE])
    assert isinstance(strategy, Hold)
    assert list(strategy.traded()) == [BINANCE]
