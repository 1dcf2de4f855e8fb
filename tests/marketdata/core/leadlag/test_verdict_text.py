"""The plain-language verdicts of the lead-lag page, sentence by sentence, from stored report pairs."""

from __future__ import annotations

from typing import Any

import pytest

from marketdata.core.leadlag.verdict_text import lag_text, leadlag_verdict_sentence, stability_text, venue_label

DAY_S = 86_400.0


def pair(**fields: Any) -> dict[str, Any]:
    """A report pair as :func:`marketdata.core.leadlag.analysis.pair_json` stores it (only the fields read here)."""
    base: dict[str, Any] = {
        "venues": ["binance", "coinbase"],
        "leader": None,
        "follower": None,
        "verdict": "no_confident_leader",
        "lag_seconds": 0.4,
        "component_share": {"binance": 0.5, "coinbase": 0.5},
        "stability": {"windows": 0, "with_leader": 0, "agreeing": 0},
    }
    return {**base, **fields}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2.0, "2 s"),
        (-2.0, "2 s"),
        (0.5, "0.5 s"),
        (0.0123, "0.012 s"),
        (9.94, "9.9 s"),
        (10.0, "10 s"),
        (59.6, "60 s"),
        (119.4, "119 s"),
        (120.0, "2 min"),
        (180.243, "3 min"),
        (150.0, "2.5 min"),
        (3_600.0, "60 min"),
    ],
)
def test_lag_text(seconds: float, text: str) -> None:
    assert lag_text(seconds) == text


def test_stability_names_days_hours_or_windows() -> None:
    assert stability_text(27, 30, DAY_S) == "stable in 27 of 30 days"
    assert stability_text(1, 1, DAY_S) == "stable in 1 of 1 day"
    assert stability_text(5, 24, 3_600) == "stable in 5 of 24 hours"
    assert stability_text(0, 4, 21_600.0) == "stable in 0 of 4 windows"
    assert stability_text(1, 1, 600.0) == "stable in 1 of 1 window"


def test_venue_labels() -> None:
    assert [venue_label(v) for v in ("binance", "bybit", "coinbase", "kraken")] == [
        "Binance",
        "Bybit",
        "Coinbase",
        "kraken",
    ]


def test_a_named_leader_with_its_lag_and_stability() -> None:
    given = pair(
        verdict="leader",
        leader="binance",
        follower="coinbase",
        lag_seconds=2.0,
        stability={"windows": 30, "with_leader": 28, "agreeing": 27},
    )
    assert (
        leadlag_verdict_sentence(given, interval="1s", window_seconds=DAY_S)
        == "Binance leads Coinbase by about 2 s; stable in 27 of 30 days"
    )


def test_the_leader_may_be_the_second_venue_and_windows_need_not_be_days() -> None:
    given = pair(
        verdict="leader",
        leader="coinbase",
        follower="binance",
        lag_seconds=180.243,
        stability={"windows": 6, "with_leader": 3, "agreeing": 2},
    )
    assert (
        leadlag_verdict_sentence(given, interval="1m", window_seconds=21_600.0)
        == "Coinbase leads Binance by about 3 min; stable in 2 of 6 windows"
    )


def test_a_leader_without_rolling_windows_or_lag_says_only_what_is_known() -> None:
    no_windows = pair(
        verdict="leader", leader="bybit", follower="binance", lag_seconds=0.5, venues=["binance", "bybit"]
    )
    no_lag = pair(verdict="leader", leader="bybit", follower="binance", lag_seconds=None, venues=["binance", "bybit"])
    assert (
        leadlag_verdict_sentence(no_windows, interval="1s", window_seconds=DAY_S)
        == "Bybit leads Binance by about 0.5 s"
    )
    assert leadlag_verdict_sentence(no_lag, interval="1s", window_seconds=DAY_S) == "Bybit leads Binance"


def test_no_confident_leader() -> None:
    assert (
        leadlag_verdict_sentence(pair(), interval="1m", window_seconds=DAY_S)
        == "No confident leader between Binance and Coinbase"
    )


def test_an_unknown_status_is_not_read_as_a_leader() -> None:
    given = pair(verdict="something-new", leader="binance", follower="coinbase")
    assert (
        leadlag_verdict_sentence(given, interval="1m", window_seconds=DAY_S)
        == "No confident leader between Binance and Coinbase"
    )


def test_unresolvable_names_the_venue_the_component_share_favours() -> None:
    given = pair(verdict="unresolvable", component_share={"binance": 0.31, "coinbase": 0.69})
    assert (
        leadlag_verdict_sentence(given, interval="1m", window_seconds=DAY_S)
        == "Unresolvable at this interval (1m): Coinbase appears to lead Binance by less than one step"
    )


@pytest.mark.parametrize("shares", [None, {"binance": None, "coinbase": None}, {"binance": 0.5, "coinbase": 0.5}])
def test_unresolvable_without_a_favoured_venue(shares: dict[str, Any] | None) -> None:
    given = pair(verdict="unresolvable", component_share=shares)
    assert (
        leadlag_verdict_sentence(given, interval="5m", window_seconds=DAY_S)
        == "Unresolvable at this interval (5m): any lead between Binance and Coinbase is shorter than one step"
    )
