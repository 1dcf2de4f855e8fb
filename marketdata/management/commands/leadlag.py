"""``manage.py leadlag``: which venue leads a market, by how much, how surely; a table or one JSON object.

    manage.py leadlag --symbol BTC/USDT --exchanges binance,coinbase,bybit --interval 1m \\
        --start 2024-01-01 --end 2024-02-01 [--max-lag 30] [--json]

``--exchanges`` entries are venues (using ``--symbol``) or ``venue:SYMBOL`` for a venue that quotes the market
differently: ``--exchanges binance:BTC/USDT,coinbase:BTC/USD,bybit:BTC/USDT``. Times are dates or ISO datetimes,
UTC unless they carry an offset; ``--end`` is exclusive. ``--max-lag`` is in grid steps of ``--interval``. The run
is stored (``LeadLagRun``) like the API's; progress goes to stderr.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hftplatform.core.utc import utc_ms_parse
from marketdata import services
from marketdata.core.leadlag.markets import MarketSpecError, leadlag_markets_parse


def _utc_ms(text: str, option: str) -> int:
    try:
        return utc_ms_parse(text)
    except ValueError as error:
        raise CommandError(f"{option}: {error}") from None


def _number(x: Any, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _p_value(x: float | None) -> str:
    return "—" if x is None else f"{x:.2g}"


class Command(BaseCommand):
    help = "Lead-lag analysis of one market across venues: cross-correlation, Hayashi-Yoshida, Granger, IS/CS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", help="unified symbol for every venue without its own: BTC/USDT")
        parser.add_argument(
            "--exchanges", required=True, help="binance,coinbase,bybit or binance:BTC/USDT,coinbase:BTC/USD"
        )
        parser.add_argument("--interval", required=True, help="platform interval code: 1s 1m 5m … 1d")
        parser.add_argument("--start", required=True, help="date or ISO datetime, UTC")
        parser.add_argument("--end", required=True, help="date or ISO datetime, UTC, exclusive")
        parser.add_argument("--max-lag", type=int, default=30, help="lags ± this many grid steps (default 30)")
        parser.add_argument("--window-hours", type=float, default=24.0, help="rolling window (default 24 h)")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            markets = leadlag_markets_parse(options["exchanges"], options["symbol"])
        except MarketSpecError as error:
            raise CommandError(str(error)) from None
        start, end = _utc_ms(options["start"], "--start"), _utc_ms(options["end"], "--end")
        window_ms = int(options["window_hours"] * 3_600_000)
        if window_ms <= 0:
            raise CommandError("--window-hours must be positive")
        try:
            run = services.leadlag_run_create(
                markets=markets,
                interval=options["interval"],
                start_ms=start,
                end_ms=end,
                max_lag=options["max_lag"],
                window_ms=window_ms,
            )
            run = services.leadlag_run_execute(run_id=run.pk, progress=self._progress)
        except services.LeadLagError as error:
            raise CommandError(error.message) from None
        if options["json"]:
            self.stdout.write(json.dumps({"run_id": run.pk, **run.outputs}, allow_nan=False))
            return
        self._table(run.outputs)
        seconds = sum(run.timings.values())
        self.stderr.write(
            f"run {run.pk}: {seconds:.2f} s ({', '.join(f'{k} {v:.2f}' for k, v in run.timings.items())})"
        )

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.stderr.write(f"  [{done}/{total}] {stage}")

    def _table(self, report: dict[str, Any]) -> None:
        header = (
            f"{'pair':<20} {'leader':<10} {'lag s':>7} {'xcorr':>7} {'band':>6} {'HY LLR':>8} "
            f"{'Granger a→b':>11} {'b→a':>8} {'IS a [lo, hi]':>15} {'IS b [lo, hi]':>15} {'CS a':>6}  verdict"
        )
        self.stdout.write(header)
        for pair in report["pairs"]:
            a, b = pair["venues"]
            shares = pair["information_share"] or {a: {"lower": None, "upper": None}, b: {"lower": None, "upper": None}}
            cs = (pair["component_share"] or {}).get(a)
            self.stdout.write(
                f"{a + '/' + b:<20} {pair['leader'] or '—':<10} {_number(pair['lag_seconds'], 2):>7} "
                f"{_number(pair['xcorr_peak']):>7} {_number(pair['xcorr_band']):>6} {_number(pair['hy_ratio'], 2):>8} "
                f"{_p_value(pair['granger_p'][f'{a}->{b}']):>11} {_p_value(pair['granger_p'][f'{b}->{a}']):>8} "
                f"{_number(shares[a]['lower'], 2) + ', ' + _number(shares[a]['upper'], 2):>15} "
                f"{_number(shares[b]['lower'], 2) + ', ' + _number(shares[b]['upper'], 2):>15} {_number(cs, 2):>6}  "
                f"{pair['verdict_text']}"
            )
        notes = report["notes"]
        self.stdout.write(f"\n{notes['lags']}\nxcorr band: {notes['xcorr_band']}\nGranger: {notes['granger']}")
