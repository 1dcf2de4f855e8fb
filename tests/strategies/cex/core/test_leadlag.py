"""``leadlag``: entries on the leader's move at the follower's next open, exits after hold_bars or at the stop."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.cex.core.leadlag import LeadLag, LeadLagParams
from strategies.core.costs import CostModel
from strategies.core.intents import Side
from strategies.core.params import ParamError
from strategies.core.portfolio import ACCOUNTING
from strategies.core.risk import RiskLimits
from strategies.registry import strategy_build
from tests.strategies.bars import BINANCE, BYBIT, BYBIT_PERP, COINBASE, MINUTE, START_MS, random_series, series_make
from tests.strategies.core.engine_runs import engine_run, ledger_json

D = Decimal
FLAT_LEADER = ["100"] * 3 + ["100.5"] * 9  # up 0.5 % at bar 3, then still
FALLING_LEADER = ["100"] * 3 + ["99.5"] * 9
RISING = [str(x) for x in [200, 200, 200, 200, 201, 202, 203, 204, 205, 206, 207, 208]]  # opens: previous close
FALLING = [str(x) for x in [200, 200, 200, 200, 199, 198, 197, 196, 195, 194, 193, 192]]


def leadlag(follower=BYBIT, **params: str) -> LeadLag:  # type: ignore[no-untyped-def]
    values = {"leader": "binance", "follower": follower.venue, "threshold": "0.001", "hold_bars": "3", **params}
    strategy = strategy_build("leadlag", values, [BINANCE, follower])
    assert isinstance(strategy, LeadLag)
    return strategy


def run(strategy: LeadLag, leader: list[str], follower: list[str], market=BYBIT, **kwargs):  # type: ignore[no-untyped-def]
    return engine_run(strategy, series_make(BINANCE, leader), series_make(market, follower), **kwargs)[1]


def fills(result):  # type: ignore[no-untyped-def]
    return [((e.time_ms - START_MS) // MINUTE, e.side, e.quantity, e.price, e.tag) for e in result.trades]


def test_a_leader_move_above_threshold_enters_at_the_followers_next_open_and_exits_after_hold_bars() -> None:
    result = run(leadlag(), FLAT_LEADER, RISING)
    # the leader's bar 3 closes 0.5 % up: buy at bar 4's open (200) with all the cash; held bars 4, 5, 6; sold at
    # bar 7's open (203)
    assert fills(result) == [
        (4, Side.BUY, D(50), D(200), "entry long"),
        (7, Side.SELL, D(50), D(203), "exit"),
    ]
    assert result.final_nav == D(10150)
    assert result.round_trips[0].pnl == D(150)


@pytest.mark.parametrize(("hold_bars", "exit_bar"), [(1, 5), (2, 6), (5, 9)])
def test_the_position_is_held_for_hold_bars_of_the_follower(hold_bars: int, exit_bar: int) -> None:
    result = run(leadlag(hold_bars=str(hold_bars)), FLAT_LEADER, RISING)
    assert [(bar, side) for bar, side, *_ in fills(result)] == [(4, Side.BUY), (exit_bar, Side.SELL)]


def test_a_move_at_the_threshold_does_not_enter() -> None:
    result = run(leadlag(threshold="0.005"), FLAT_LEADER, RISING)
    assert result.trades == []


def test_the_return_is_over_lookback_bars() -> None:
    leader = ["100", "100", "100.3", "100.6"] + ["100.6"] * 8  # 0.3 % a bar: 0.6 % over two bars at bar 3
    result = run(leadlag(threshold="0.004", lookback="2"), leader, RISING)
    assert [(bar, side) for bar, side, *_ in fills(result)] == [(4, Side.BUY), (7, Side.SELL)]
    result = run(leadlag(threshold="0.004", lookback="1"), leader, RISING)
    assert result.trades == []


def test_the_stop_exits_on_an_adverse_close_against_the_entry_price() -> None:
    # bought at 200 (bar 4's open); bar 4 closes at 199, bar 5 at 197.9: 1.05 % under the entry
    follower = ["200", "200", "200", "200", "199", "197.9", "197", "197", "197", "197", "197", "197"]
    result = run(leadlag(stop="0.01", hold_bars="5"), FLAT_LEADER, follower)
    assert fills(result) == [
        (4, Side.BUY, D(50), D(200), "entry long"),
        (6, Side.SELL, D(50), D("197.9"), "exit"),
    ]


def test_spot_is_long_only() -> None:
    result = run(leadlag(), FALLING_LEADER, FALLING)
    assert result.trades == []
    assert result.refusals == []


def test_a_perpetual_follower_goes_short_on_a_falling_leader() -> None:
    result = run(leadlag(BYBIT_PERP), FALLING_LEADER, FALLING, market=BYBIT_PERP)
    assert fills(result) == [
        (4, Side.SELL, D(50), D(200), "entry short"),
        (7, Side.BUY, D(50), D(197), "exit"),
    ]
    assert result.final_nav == D(10150)


def test_a_perpetual_follower_goes_long_on_a_rising_leader() -> None:
    result = run(leadlag(BYBIT_PERP, size="0.5"), FLAT_LEADER, RISING, market=BYBIT_PERP)
    assert fills(result) == [
        (4, Side.BUY, D(25), D(200), "entry long"),
        (7, Side.SELL, D(25), D(203), "exit"),
    ]


def test_size_and_venue_fees_on_a_spot_follower() -> None:
    result = run(leadlag(size="0.5"), FLAT_LEADER, RISING, costs=CostModel(), limits=RiskLimits())
    buy, sell = result.trades
    with localcontext(ACCOUNTING):
        # 5000 spent in all at 200 with bybit's 0.1 % taker fee (to the 34th digit)
        assert abs(buy.quantity - D(5000) / (D(200) * D("1.001"))) <= D("1e-30")  # rounded down at the 34th digit
        assert buy.quantity * buy.price + buy.fee == D(5000)  # the buy spends exactly its amount
        assert sell.quantity == buy.quantity
        assert sell.fee == sell.quantity * D(203) * D("0.001")
        assert result.final_nav == (D(5000) + sell.quantity * D(203) - sell.fee).quantize(D("1e-8"))


def test_it_trades_again_after_an_exit() -> None:
    leader = ["100"] * 3 + ["100.5"] * 5 + ["101"] * 4  # a second move at bar 8
    result = run(leadlag(), leader, RISING)
    assert [(bar, side) for bar, side, *_ in fills(result)] == [(4, Side.BUY), (7, Side.SELL), (9, Side.BUY)]
    assert result.unfilled == 1  # the exit decided at the last close


def test_only_the_follower_is_traded() -> None:
    assert list(leadlag().traded()) == [BYBIT]


# -- parameters -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"leader": "binance", "follower": "bybit", "colour": "red"}, "unknown parameter"),
        ({"leader": "binance", "follower": "bybit", "lookback": "0"}, "lookback must be at least 1"),
        ({"leader": "binance", "follower": "bybit", "lookback": "x"}, "is not an integer"),
        ({"leader": "binance", "follower": "bybit", "hold_bars": "0"}, "hold_bars must be at least 1"),
        ({"leader": "binance", "follower": "bybit", "threshold": "0"}, "threshold must be positive"),
        ({"leader": "binance", "follower": "bybit", "threshold": 0.1}, "not a float"),
        ({"leader": "binance", "follower": "bybit", "stop": "-0.01"}, "stop must be positive"),
        ({"leader": "binance", "follower": "bybit", "size": "1.5"}, r"size must be in \(0, 1\]"),
        ({"leader": "binance", "follower": "bybit", "size": "0"}, r"size must be in \(0, 1\]"),
        ({"leader": "bybit", "follower": "bybit"}, "leader and follower must be different venues"),
        ({"leader": "kraken", "follower": "bybit"}, "leader 'kraken' is not among the run's venues"),
        ({"leader": "binance", "follower": "okx"}, "follower 'okx' is not among the run's venues"),
        ({"follower": "bybit"}, "needs leader and follower"),
    ],
)
def test_bad_parameters_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ParamError, match=message):
        strategy_build("leadlag", values, [BINANCE, BYBIT, COINBASE])


def test_an_unknown_strategy_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ParamError, match=r"unknown strategy 'nope'; known: .*hold, leadlag"):
        strategy_build("nope", {}, [BINANCE])


def test_parameters_parse_from_text() -> None:
    strategy = leadlag(lookback="4", threshold="0.0025", stop="0.02", size="0.75")
    assert strategy.params == LeadLagParams(
        leader="binance",
        follower="bybit",
        lookback=4,
        threshold=D("0.0025"),
        hold_bars=3,
        stop=D("0.02"),
        size=D("0.75"),
    )


# -- no look-ahead, determinism -------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), cut=st.integers(2, 149), perp=st.booleans())
def test_a_run_cut_at_t_makes_the_same_trades_up_to_t(seed: int, cut: int, perp: bool) -> None:
    follower = BYBIT_PERP if perp else BYBIT
    data = [random_series(BINANCE, 150, seed=seed), random_series(follower, 150, seed=seed + 1)]
    end_ms = START_MS + cut * MINUTE
    costs = CostModel(slippage_bps=D(2))
    _, full = engine_run(leadlag(follower, stop="0.003"), *data, costs=costs, limits=RiskLimits())
    _, part = engine_run(
        leadlag(follower, stop="0.003"), *[s.until(end_ms) for s in data], costs=costs, limits=RiskLimits()
    )
    assert len(full.trades) > 4
    assert ledger_json(part) == ledger_json(full)[: len(part.ledger)]
    assert part.nav == full.nav[: len(part.nav)]
    assert [e for e in full.ledger[len(part.ledger) :] if e.time_ms < end_ms] == []


def test_two_runs_print_the_same_json() -> None:
    def run_json() -> str:
        data = [random_series(BINANCE, 300, seed=3), random_series(BYBIT_PERP, 300, seed=4)]
        _, result = engine_run(leadlag(BYBIT_PERP), *data, costs=CostModel(slippage_bps=D(1)), limits=RiskLimits())
        return json.dumps({"ledger": ledger_json(result), "nav": [str(n) for n in result.nav]})

    first = run_json()
    assert first == run_json()
    assert '"side": "sell"' in first and '"side": "buy"' in first


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_full_size_perpetual_entry_is_never_refused_for_leverage_by_rounding(seed: int) -> None:
    # Given size 1 on a perpetual and a gross leverage limit of 1 x NAV: cash / close, times the close, must not
    # round above the cash
    data = [random_series(BINANCE, 600, seed=seed), random_series(BYBIT_PERP, 600, seed=seed + 100)]
    # When leadlag trades often
    _, result = engine_run(leadlag(BYBIT_PERP, threshold="0.0002", hold_bars="1", size="1"), *data, limits=RiskLimits())
    # Then every entry it decided was booked: no refusal at all
    assert len(result.trades) > 20
    assert result.refusals == []
