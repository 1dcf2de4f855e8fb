"""strategies.core.metrics: held to empyrical-reloaded at 1e-12 on random series, to hand-computed values on exact
vectors, and to the module's list on every edge (no returns, one return, equal returns, losses of 100 % and more)."""

from __future__ import annotations

import dataclasses
import math
import warnings
from decimal import Decimal
from typing import Any

import empyrical
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.core.markets import Market
from strategies.core.metrics import (
    METRIC_KEYS,
    Metrics,
    TradeActivity,
    TradeStatistics,
    drawdown_series,
    performance_metrics,
    returns_array,
    returns_from_nav,
    trade_statistics,
)
from strategies.core.portfolio import RoundTrip

KEYS = ["sharpe", "sortino", "annual_volatility", "max_drawdown", "cagr", "calmar", "total_return", "omega"]
KEYS += ["tail_ratio", "var_5", "stability"]
PERIODS = [12, 252, 365, 8760, 525600]
MARKET = Market("binance", "BTC/USDT")


def reference(returns: np.ndarray[Any, Any], periods: int) -> dict[str, float]:
    """empyrical-reloaded's value for each JSON key (NaN: undefined), rf = 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empyrical lets numpy warn on 0/0 and overflow, then returns NaN/inf
        values = {
            "sharpe": empyrical.sharpe_ratio(returns, annualization=periods),
            "sortino": empyrical.sortino_ratio(returns, annualization=periods),
            "annual_volatility": empyrical.annual_volatility(returns, annualization=periods),
            "max_drawdown": empyrical.max_drawdown(returns),
            "cagr": empyrical.cagr(returns, annualization=periods),
            "calmar": empyrical.calmar_ratio(returns, annualization=periods),
            "total_return": empyrical.cum_returns_final(returns),
            "omega": empyrical.omega_ratio(returns, annualization=periods),
            "tail_ratio": empyrical.tail_ratio(returns),
            "var_5": empyrical.value_at_risk(returns),
            "stability": empyrical.stability_of_timeseries(returns),
        }
    return {key: float(value) for key, value in values.items()}


def all_equal(returns: np.ndarray[Any, Any]) -> bool:
    """A documented divergence: equal returns have an annual volatility of exactly 0 here, empyrical's the rounding
    residue of their mean (above 1e-12 for large returns at 525600 periods a year)."""
    return returns.size >= 2 and bool(returns.max() == returns.min())


def flat_cumulative(returns: np.ndarray[Any, Any]) -> bool:
    """The module's one documented divergence: a flat cumulative log series has no stability here."""
    if returns.size < 2 or (returns <= -1).any():
        return False
    level = np.cumsum(np.log1p(returns))
    return bool(level.max() == level.min())


def mismatches(returns: np.ndarray[Any, Any], periods: int) -> dict[str, tuple[float | None, float]]:
    """Keys where ours and empyrical's differ: NaN must be None, ±inf the same inf, a number within 1e-12 (relative
    for large values, absolute for values below 1 in size)."""
    metrics = performance_metrics(returns, periods=periods)
    ours = {key: getattr(metrics, name) for key, name in METRIC_KEYS.items()}
    theirs = reference(returns, periods)
    if flat_cumulative(returns):
        assert ours["stability"] is None
        del theirs["stability"]
    if all_equal(returns):
        assert ours["annual_volatility"] == 0.0
        assert abs(theirs.pop("annual_volatility")) <= 1e-14 * abs(returns[0]) * math.sqrt(periods)
    wrong = {}
    for key, expected in theirs.items():
        got = ours[key]
        if math.isnan(expected):
            same = got is None
        elif math.isinf(expected):
            same = got == expected
        else:
            same = got is not None and math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12)
        if not same:
            wrong[key] = (got, expected)
    return wrong


# Against empyrical-reloaded ----------------------------------------------------------------------------------------


def _series(kind: str, n: int, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    if kind == "normal":
        return rng.normal(0.0005, 0.02, n)
    if kind == "heavy tails":
        return rng.standard_t(3, n) * 0.01
    if kind == "basis points":  # ties and exact zeros
        return np.round(rng.normal(0.0, 0.01, n), 4)
    if kind == "flat half the time":
        return np.where(rng.random(n) < 0.5, 0.0, rng.normal(0.001, 0.03, n))
    if kind == "gains only":
        return np.abs(rng.normal(0.0, 0.01, n))
    assert kind == "losses only"
    return -np.abs(rng.normal(0.0, 0.01, n))


@pytest.mark.parametrize("periods", PERIODS)
@pytest.mark.parametrize("n", [2, 3, 7, 30, 365, 2000])
@pytest.mark.parametrize(
    "kind", ["normal", "heavy tails", "basis points", "flat half the time", "gains only", "losses only"]
)
def test_random_series_match_empyrical(kind: str, n: int, periods: int) -> None:
    rng = np.random.default_rng([n, periods, len(kind)])
    for _ in range(5):
        returns = _series(kind, n, rng)
        assert mismatches(returns, periods) == {}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.floats(min_value=-1.5, max_value=3.0, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 6)),
        max_size=60,
    ),
    periods=st.sampled_from(PERIODS),
)
def test_any_series_matches_empyrical(values: list[float], periods: int) -> None:
    assert mismatches(np.array(values, dtype=np.float64), periods) == {}


@pytest.mark.parametrize(
    "values",
    [
        [],
        [0.01],
        [-0.02],
        [0.0, 0.0, 0.0],
        [0.01] * 5,
        [-0.01] * 5,
        [0.1, 0.0, 0.0],
        [0.1, -1.0, 0.2],
        [0.1, -1.5, 0.2],
        [0.5, -1e-9, 0.1],
        [1.0] * 50,
        [0.0, 0.0, 0.01],
        [0.02, -0.01],
    ],
)
@pytest.mark.parametrize("periods", [365, 525600])
def test_edges_match_empyrical(values: list[float], periods: int) -> None:
    assert mismatches(np.array(values, dtype=np.float64), periods) == {}


# Exact vectors, by hand ---------------------------------------------------------------------------------------------


def test_hand_computed_vector() -> None:
    # r = 2 %, -1 %, 3 %, -2 %, four periods a year (one year): mean 0.5 %, squared deviations 2 * 0.015² + 2 * 0.025²
    # = 0.0017 over n - 1 = 3; wealth 1.02, 1.0098, 1.040094, 1.01929212; sorted 5th/95th percentile positions
    # 0.15 and 2.85 between -0.02, -0.01, 0.02, 0.03.
    metrics = performance_metrics([0.02, -0.01, 0.03, -0.02], periods=4)

    deviation = math.sqrt(0.0017 / 3)
    level = [math.log(1.02), math.log(1.02 * 0.99), math.log(1.02 * 0.99 * 1.03), math.log(1.02 * 0.99 * 1.03 * 0.98)]
    mean_level = sum(level) / 4
    sxy = sum((t - 1.5) * (y - mean_level) for t, y in enumerate(level))
    syy = sum((y - mean_level) ** 2 for y in level)
    expected = {
        "sharpe_ratio": 0.005 / deviation * 2,
        "sortino_ratio": 2 / math.sqrt(5),  # 0.005 * 4 / (sqrt((0.01² + 0.02²) / 4) * 2)
        "annual_volatility": deviation * 2,
        "max_drawdown": -0.02,  # 1.01929212 / 1.040094 - 1
        "cagr": 0.01929212,  # one year: the total return
        "calmar_ratio": 0.964606,  # 0.01929212 / 0.02
        "total_return": 0.01929212,
        "omega_ratio": 5 / 3,  # (0.02 + 0.03) / (0.01 + 0.02)
        "tail_ratio": 57 / 37,  # 0.0285 / 0.0185
        "value_at_risk": -0.0185,  # -0.02 + 0.15 * 0.01
        "stability_of_timeseries": sxy**2 / (5 * syy),  # Σ(t - 1.5)² = 5
    }
    got = dataclasses.asdict(metrics)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-13, abs=1e-15), name
    assert metrics.stability_of_timeseries == pytest.approx(0.0815493414936206, rel=1e-12)


def test_annualisation_scales_by_periods() -> None:
    returns = [0.01, -0.005, 0.002, 0.0]
    daily, hourly = performance_metrics(returns, periods=365), performance_metrics(returns, periods=8760)
    assert hourly.sharpe_ratio == pytest.approx(daily.sharpe_ratio * math.sqrt(24), rel=1e-14)
    assert hourly.sortino_ratio == pytest.approx(daily.sortino_ratio * math.sqrt(24), rel=1e-14)
    assert hourly.annual_volatility == pytest.approx(daily.annual_volatility * math.sqrt(24), rel=1e-14)
    wealth = 1.01 * 0.995 * 1.002
    assert daily.cagr == pytest.approx(wealth ** (365 / 4) - 1, rel=1e-12)
    assert hourly.cagr == pytest.approx(wealth ** (8760 / 4) - 1, rel=1e-12)
    # what does not depend on the period length
    unannualised = ("max_drawdown", "total_return", "omega_ratio", "tail_ratio", "value_at_risk")
    for name in (*unannualised, "stability_of_timeseries"):
        assert getattr(daily, name) == getattr(hourly, name), name


def test_drawdown_is_anchored_at_the_start() -> None:
    # a first loss is a drawdown from the starting wealth of 1, not from the first point
    assert drawdown_series([-0.1, 0.05, 0.2, -0.5]).tolist() == pytest.approx([-0.1, -0.055, 0.0, -0.5], abs=1e-15)
    assert performance_metrics([-0.1], periods=365).max_drawdown == pytest.approx(-0.1, abs=1e-15)
    assert performance_metrics([0.1, 0.2], periods=365).max_drawdown == 0.0


def test_returns_from_nav() -> None:
    nav = [Decimal("10000"), Decimal("10200"), Decimal("10098"), Decimal("10400.94"), Decimal("10192.9212")]
    returns = returns_from_nav(nav)
    assert returns.dtype == np.float64
    assert returns.tolist() == [0.02, -0.01, 0.03, -0.02]  # each ratio exact, then rounded once
    assert performance_metrics(returns, periods=4) == performance_metrics([0.02, -0.01, 0.03, -0.02], periods=4)
    assert returns_from_nav([Decimal(1)]).tolist() == []
    assert returns_from_nav([]).tolist() == []
    assert returns_from_nav([Decimal(5), Decimal(0)]).tolist() == [-1.0]  # a NAV may end at 0


@pytest.mark.parametrize(
    ("nav", "message"),
    [
        (["100", "0", "10"], "nav\\[1\\] is 0: a return after it is undefined"),
        (["-1", "10"], "nav\\[0\\] is -1"),
        (["100", "NaN"], "nav must be a finite Decimal"),
    ],
)
def test_returns_from_bad_nav_are_refused(nav: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        returns_from_nav([Decimal(v) for v in nav])


# Edges: the module's list ------------------------------------------------------------------------------------------


def test_no_returns_is_all_undefined() -> None:
    assert performance_metrics([], periods=365).metrics_json() == dict.fromkeys(KEYS)
    assert dataclasses.astuple(performance_metrics(np.array([]), periods=365)) == (None,) * 11


def test_one_return() -> None:
    metrics = performance_metrics([-0.02], periods=365)
    assert (metrics.sharpe_ratio, metrics.sortino_ratio, metrics.annual_volatility) == (None, None, None)
    assert (metrics.omega_ratio, metrics.stability_of_timeseries) == (None, None)
    assert metrics.total_return == pytest.approx(-0.02, abs=1e-16)
    assert metrics.max_drawdown == pytest.approx(-0.02, abs=1e-16)
    assert metrics.cagr == pytest.approx(0.98**365 - 1, rel=1e-12)
    assert metrics.calmar_ratio == pytest.approx((0.98**365 - 1) / 0.02, rel=1e-12)
    assert (metrics.tail_ratio, metrics.value_at_risk) == (1.0, -0.02)


def test_no_movement() -> None:
    metrics = performance_metrics([0.0] * 10, periods=365)
    assert metrics == Metrics(
        sharpe_ratio=None,  # 0 / 0
        sortino_ratio=None,  # 0 / 0
        annual_volatility=0.0,
        max_drawdown=0.0,
        cagr=0.0,
        calmar_ratio=None,  # no drawdown
        total_return=0.0,
        omega_ratio=None,  # no loss
        tail_ratio=None,  # 0 / 0
        value_at_risk=0.0,
        stability_of_timeseries=None,  # nothing to fit
    )


def test_equal_gains_have_infinite_ratios_and_no_deviation() -> None:
    metrics = performance_metrics([0.001] * 30, periods=365)
    assert (metrics.sharpe_ratio, metrics.sortino_ratio) == (math.inf, math.inf)
    assert metrics.annual_volatility == 0.0  # exactly: not the residue of a mean rounded off the value
    assert (metrics.max_drawdown, metrics.calmar_ratio, metrics.omega_ratio) == (0.0, None, None)
    assert metrics.tail_ratio == 1.0
    assert metrics.stability_of_timeseries == pytest.approx(1.0, abs=1e-15)
    json = metrics.metrics_json()
    assert (json["sharpe"], json["sortino"]) == (None, None)  # JSON has no infinity


def test_stability_of_tiny_returns() -> None:
    # (y - mean y)² underflows to 0 for returns near 1e-283 unless scaled first; two points lie on a line
    assert performance_metrics([0.0, 1.2e-283], periods=12).stability_of_timeseries == 1.0


def test_equal_losses() -> None:
    metrics = performance_metrics([-0.01] * 4, periods=365)
    assert metrics.sharpe_ratio == -math.inf
    assert metrics.sortino_ratio == pytest.approx(-math.sqrt(365), rel=1e-14)  # -0.01 * 365 / (0.01 * √365)
    assert metrics.omega_ratio == 0.0
    assert metrics.max_drawdown == pytest.approx(0.99**4 - 1, rel=1e-14)


def test_tail_ratio_infinite_when_the_left_tail_is_flat() -> None:
    metrics = performance_metrics([0.0] * 19 + [0.05] * 3, periods=365)
    assert metrics.tail_ratio == math.inf
    assert metrics.value_at_risk == 0.0
    assert metrics.metrics_json()["tail_ratio"] is None


def test_loss_of_everything() -> None:
    metrics = performance_metrics([0.1, -1.0, 0.2], periods=365)
    assert (metrics.total_return, metrics.cagr, metrics.max_drawdown) == (-1.0, -1.0, -1.0)
    assert metrics.calmar_ratio == -1.0  # -1 / |-1|
    assert metrics.stability_of_timeseries is None  # log(0)


def test_loss_beyond_everything() -> None:
    metrics = performance_metrics([0.1, -1.5, 0.2], periods=365)
    assert metrics.total_return == pytest.approx(1.1 * -0.5 * 1.2 - 1, rel=1e-14)
    assert metrics.max_drawdown == pytest.approx(-1.6, rel=1e-14)  # wealth -0.66 at the end, against a peak of 1.1
    assert (metrics.cagr, metrics.calmar_ratio, metrics.stability_of_timeseries) == (None, None, None)


def test_overflowing_growth() -> None:
    metrics = performance_metrics([1.0] * 50, periods=525600)  # doubling every minute
    assert metrics.cagr == math.inf
    assert metrics.calmar_ratio is None
    assert metrics.metrics_json()["cagr"] is None


def test_metrics_json_keys_and_values() -> None:
    metrics = performance_metrics([0.02, -0.01, 0.03, -0.02], periods=4)
    json = metrics.metrics_json()
    assert list(json) == KEYS
    assert json == {key: getattr(metrics, name) for key, name in METRIC_KEYS.items()}


def test_metrics_are_frozen() -> None:
    metrics = performance_metrics([0.01, 0.02], periods=365)
    with pytest.raises(dataclasses.FrozenInstanceError):
        metrics.sharpe_ratio = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        ([0.01, math.nan], "return 1 is nan"),
        ([math.inf], "return 0 is inf"),
        ([[0.01, 0.02]], "one-dimensional"),
    ],
)
def test_bad_returns_are_refused(returns: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        performance_metrics(returns, periods=365)
    with pytest.raises(ValueError, match=message):
        returns_array(returns)


@pytest.mark.parametrize("periods", [0, -365, math.nan, math.inf, True, "365"])
def test_bad_periods_are_refused(periods: Any) -> None:
    with pytest.raises(ValueError, match="periods"):
        performance_metrics([0.01, 0.02], periods=periods)


def test_numpy_and_list_input_agree() -> None:
    values = [0.013, -0.021, 0.004, 0.0, 0.017]
    assert performance_metrics(values, periods=np.int64(365)) == performance_metrics(np.array(values), periods=365.0)


# Trade statistics ---------------------------------------------------------------------------------------------------


def _activity(
    pnls: list[str] | None = None,
    *,
    notional: str = "0",
    nav: list[str] | None = None,
    position: list[str] | None = None,
) -> TradeActivity:
    return TradeActivity(
        round_trips=[RoundTrip(MARKET, 0, 1, Decimal(p)) for p in pnls or []],
        traded_notional=Decimal(notional),
        nav=[Decimal(v) for v in nav or []],
        position=[Decimal(v) for v in position or []],
    )


def test_trade_statistics() -> None:
    activity = _activity(
        ["10", "-5", "0", "20.5", "-15.25"],
        notional="20000",
        nav=["10000", "10500", "9500", "10000"],
        position=["0", "0.5", "-0.25", "0"],
    )
    statistics = trade_statistics(activity, periods=365)
    assert statistics == TradeStatistics(
        turnover=20000 * 365 / 40000,  # 20000 over an average NAV of 10000 in 4/365 of a year
        exposure=0.5,
        hit_rate=0.4,  # 10 and 20.5 of five; a round trip at 0 is no win
        profit_factor=30.5 / 20.25,
        round_trips=5,
    )
    assert statistics.metrics_json() == {
        "turnover": 182.5,
        "exposure": 0.5,
        "hit_rate": 0.4,
        "profit_factor": 30.5 / 20.25,
        "round_trips": 5,
    }


def test_turnover_of_one_round_trip_of_the_whole_nav_a_year() -> None:
    activity = _activity(["0"], notional="20000", nav=["10000"] * 365, position=["1"] * 365)
    statistics = trade_statistics(activity, periods=365)
    assert (statistics.turnover, statistics.exposure) == (2.0, 1.0)


def test_profit_factor_without_a_loss_is_undefined_and_without_a_profit_zero() -> None:
    assert trade_statistics(_activity(["1", "2"]), periods=365).profit_factor is None
    assert trade_statistics(_activity(["-1", "0"]), periods=365).profit_factor == 0.0


def test_nothing_traded() -> None:
    assert trade_statistics(_activity(), periods=365) == TradeStatistics(
        turnover=None, exposure=None, hit_rate=None, profit_factor=None, round_trips=0
    )
    flat = trade_statistics(_activity(nav=["100", "100"], position=["0", "0"]), periods=365)
    assert (flat.turnover, flat.exposure, flat.hit_rate) == (0.0, 0.0, None)


def test_turnover_undefined_without_positive_nav() -> None:
    activity = _activity(notional="10", nav=["0", "-5"], position=["1", "1"])
    assert trade_statistics(activity, periods=365).turnover is None


def test_any_round_trip_with_a_pnl_is_read() -> None:
    @dataclasses.dataclass(frozen=True)
    class Trip:
        venue: str
        pnl: Decimal

    activity = TradeActivity(
        round_trips=[Trip("binance", Decimal("3")), Trip("bybit", Decimal("-1"))],
        traded_notional=Decimal("0"),
        nav=[],
        position=[],
    )
    statistics = trade_statistics(activity, periods=365)
    assert (statistics.hit_rate, statistics.profit_factor) == (0.5, 3.0)


@pytest.mark.parametrize(
    ("activity", "message"),
    [
        (_activity(nav=["1", "1"], position=["0"]), "one value per period: 2 and 1"),
        (_activity(notional="-1"), "traded_notional must be ≥ 0"),
        (_activity(notional="NaN"), "traded_notional must be a finite Decimal"),
        (_activity(["Infinity"]), "pnl must be a finite Decimal"),
        (_activity(nav=["sNaN"], position=["0"]), "nav must be a finite Decimal"),
    ],
)
def test_bad_trade_activity_is_refused(activity: TradeActivity, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        trade_statistics(activity, periods=365)


def test_trade_statistics_bad_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="periods"):
        trade_statistics(_activity(), periods=0)
