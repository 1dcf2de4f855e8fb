"""Plain-language verdicts of a stored lead-lag report, for people reading the lead-lag page.

The input is one ``pairs`` entry of :func:`marketdata.core.leadlag.analysis.leadlag_report` as stored in a run's JSON
(``venues``, ``verdict``, ``leader``, ``follower``, ``lag_seconds``, ``component_share``, ``stability``). The
sentence is rebuilt from those fields rather than taken from the stored ``verdict_text`` so that the page words it
for readers (venue names capitalised, long lags in minutes, the interval named) and reports made before a
wording change still read the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marketdata.core.venues import Venue

_VENUE_LABELS = {venue.value: venue.value.capitalize() for venue in Venue}
_WINDOW_UNITS = {86_400.0: ("day", "days"), 3_600.0: ("hour", "hours")}


def venue_label(exchange: str) -> str:
    """``binance`` → ``Binance``; a name the platform does not know is shown as given."""
    return _VENUE_LABELS.get(exchange, exchange)


def lag_text(seconds: float) -> str:
    """A lag in seconds as a reader says it: two significant digits under 10 s, whole seconds under 2 minutes,
    then minutes (two significant digits under 10 min, whole minutes above)."""
    seconds = abs(seconds)
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.2g} min" if minutes < 10 else f"{minutes:.0f} min"


def stability_text(agreeing: int, windows: int, window_seconds: float) -> str:
    """``stable in 27 of 30 days``: rolling windows whose own leader is the overall one, of all windows analysed.
    Windows of a day or an hour are named so; any other length is ``windows``."""
    singular, plural = _WINDOW_UNITS.get(float(window_seconds), ("window", "windows"))
    return f"stable in {agreeing} of {windows} {singular if windows == 1 else plural}"


def _ahead_by_component_share(pair: Mapping[str, Any]) -> tuple[str, str] | None:
    """The venue the Gonzalo-Granger component share gives more than half of price discovery, and the other."""
    shares = pair.get("component_share")
    a, b = pair["venues"]
    if not shares or shares.get(a) is None or shares.get(b) is None or shares[a] == shares[b]:
        return None
    return (a, b) if shares[a] > shares[b] else (b, a)


def leadlag_verdict_sentence(pair: Mapping[str, Any], *, interval: str, window_seconds: float) -> str:
    """One sentence for a venue pair of a stored report.

    ``interval`` is the run's candle interval code (``1m``), ``window_seconds`` the rolling window length in
    seconds (the report's ``window_seconds``). A named leader reads "Binance leads Coinbase by about 2 s; stable in
    27 of 30 days" (the stability part only when there were rolling windows); otherwise "No confident leader
    between …" or "Unresolvable at this interval (1m): … appears to lead … by less than one step".
    """
    a, b = (venue_label(name) for name in pair["venues"])
    status = pair.get("verdict")
    if status == "leader" and pair.get("leader") and pair.get("follower"):
        sentence = f"{venue_label(pair['leader'])} leads {venue_label(pair['follower'])}"
        if pair.get("lag_seconds") is not None:
            sentence += f" by about {lag_text(float(pair['lag_seconds']))}"
        stability = pair.get("stability") or {}
        if stability.get("windows"):
            sentence += "; " + stability_text(int(stability["agreeing"]), int(stability["windows"]), window_seconds)
        return sentence
    if status == "unresolvable":
        ahead = _ahead_by_component_share(pair)
        if ahead is None:
            return f"Unresolvable at this interval ({interval}): any lead between {a} and {b} is shorter than one step"
        return (
            f"Unresolvable at this interval ({interval}): {venue_label(ahead[0])} appears to lead "
            f"{venue_label(ahead[1])} by less than one step"
        )
    return f"No confident leader between {a} and {b}"
