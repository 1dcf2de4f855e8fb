"""What the ``backtest``, ``paper``, ``sweep`` and ``walkforward`` subcommands of ``manage.py strategies`` share: the
options that name a run's markets, parameters, cash and costs, their parsing into what the services take, and the
progress bar on stderr.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser, OutputWrapper

from hftplatform.core.utc import utc_ms_parse

BAR_WIDTH = 30


def market_arguments(parser: CommandParser, *, interval_help: str = "candle interval: 1m 5m 1h 1d …") -> None:
    """``--exchanges``, ``--symbol``, ``--interval``."""
    parser.add_argument("--exchanges", required=True, help="venues, comma-separated: binance,bybit,coinbase")
    parser.add_argument("--symbol", required=True, help="unified symbol: BTC/USDT")
    parser.add_argument("--interval", required=True, help=interval_help)


def window_arguments(parser: CommandParser) -> None:
    """``--start`` and ``--end`` (exclusive), read by :func:`utc_ms_option`."""
    parser.add_argument("--start", required=True, help="date or ISO datetime, UTC")
    parser.add_argument("--end", required=True, help="date or ISO datetime, UTC, exclusive")


def param_arguments(parser: CommandParser, *, help_text: str = "a strategy parameter (repeat)") -> None:
    """``--param NAME=VALUE`` (repeated), read by :func:`pairs_option`."""
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=help_text)


def cost_arguments(parser: CommandParser, *, slippage_help: str = "slippage against every taker fill, in bps") -> None:
    """``--cash``, ``--fee-model``, ``--slippage-bps``, ``--latency-ms``, read by :func:`cost_model_option`."""
    parser.add_argument("--cash", default="10000", help="starting cash in the quote asset (default 10000)")
    parser.add_argument("--fee-model", default="venue", help="venue (base-tier schedules) or zero")
    parser.add_argument("--slippage-bps", default="0", help=slippage_help)
    parser.add_argument("--latency-ms", type=int, default=0, help="decision to earliest fill, ms")


def utc_ms_option(text: str, option: str) -> int:
    """A date or ISO datetime (UTC) as ms; a :class:`CommandError` naming ``option`` otherwise."""
    try:
        return utc_ms_parse(text)
    except ValueError as error:
        raise CommandError(f"{option}: {error}") from None


def pairs_option(pairs: list[str], option: str = "--param") -> dict[str, str]:
    """Repeated ``NAME=VALUE`` options as a dict; a name given twice or a pair without ``=`` is refused."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CommandError(f"{option} {pair!r}: expected name=value")
        if name in values:
            raise CommandError(f"{option} {name} given twice")
        values[name] = value.strip()
    return values


def cost_model_option(options: dict[str, Any]) -> dict[str, object]:
    """The cost options as the services' ``cost_model`` (the JSON of :class:`~strategies.core.costs.CostModel`)."""
    return {
        "fee_model": options["fee_model"],
        "slippage_bps": options["slippage_bps"],
        "latency_ms": options["latency_ms"],
    }


class ProgressBar:
    """``[####......]  40 % 400/1,000`` on one line of ``stream``, redrawn only when the whole percent changes; a
    callable ``(done, total)``, as the services' progress callbacks are."""

    def __init__(self, stream: OutputWrapper, *, unit: str = "") -> None:
        self.stream = stream
        self.unit = unit
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent == self.shown:
            return
        self.shown = percent
        filled = BAR_WIDTH * percent // 100
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:3d} % {done:,}/{total:,}{self.unit}", ending=""
        )
        self.stream.flush()
