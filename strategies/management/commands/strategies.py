"""``manage.py strategies SUBCOMMAND ...``: the strategy engine from the command line.

- ``strategies metrics RETURNS.csv --periods 365 [--json]``: the performance metrics of a return series (columns
  ``date,ret``, see :mod:`strategies.core.return_series`), annualised with ``--periods`` return periods a year (365
  for daily crypto, 8760 hourly, 525600 for 1m); a table, or with ``--json`` one object ``{"metrics": {...},
  "periods": N, "observations": n, "start": first date, "end": last date}`` with an undefined or infinite metric
  as ``null`` (the definitions: :mod:`strategies.core.metrics`).
- ``strategies paper start|status|step|stop ...``: paper runs (see :mod:`strategies.management.paper_command`).
- ``strategies backtest --strategy … --exchanges … --symbol … --interval … --start … --end … [--json]``: a
  backtest over the stored candles, a progress bar, then a report or one JSON object (see
  :mod:`strategies.management.backtest_command`).

Each subcommand is a pair of methods, ``arguments_<name>(parser)`` and ``handle_<name>(**options)``, listed in
:attr:`Command.subcommands`: adding one touches nothing of the others.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from strategies.core.metrics import METRIC_KEYS, performance_metrics
from strategies.core.return_series import return_series_parse_csv
from strategies.management.backtest_command import BacktestSubcommand
from strategies.management.paper_command import PaperSubcommand
from strategies.management.sweep_command import SweepSubcommand

# Metrics that are returns (fractions), shown as percentages too in the table.
_RETURN_METRICS = frozenset({"annual_volatility", "max_drawdown", "cagr", "total_return", "var_5"})


def _periods_parse(text: str) -> int | float:
    """``--periods``: a positive number of return periods a year, an int when written as one (365, 8760, 252)."""
    try:
        periods: int | float = int(text)
    except ValueError:
        try:
            periods = float(text)
        except ValueError:
            raise CommandError(f"--periods: {text!r} is not a number (365 daily, 8760 hourly)") from None
    if not math.isfinite(periods) or periods <= 0:
        raise CommandError(f"--periods: must be a positive number of return periods a year, not {text}")
    return periods


def _metric_text(key: str, value: float | None) -> str:
    if value is None:
        return "undefined"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.6g}"
    return f"{text}  ({value * 100:.2f} %)" if key in _RETURN_METRICS else text


class Command(SweepSubcommand, PaperSubcommand, BacktestSubcommand):
    help = "The strategy engine: metrics of a return series, paper runs, sweeps and walk-forward studies, backtests."

    # name → help; each has arguments_<name>(parser) and handle_<name>(**options)
    subcommands: dict[str, str] = {
        "metrics": "performance metrics of a return series (CSV with the columns date,ret)",
        "paper": "paper runs: start, status, step, stop (the strategy on live candles and books, stepped by beat)",
        "sweep": "a parameter sweep of leadlag over stored candles (vectorised; --celery: over the workers)",
        "walkforward": "a walk-forward study: the best grid point in sample, run out of sample, stitched",
        "backtest": "backtest a strategy over the stored candles",
    }

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True)
        for name, help_text in self.subcommands.items():
            getattr(self, f"arguments_{name}")(commands.add_parser(name, help=help_text, description=help_text))

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        getattr(self, f"handle_{subcommand}")(**options)

    # metrics ------------------------------------------------------------------------------------------------------

    def arguments_metrics(self, parser: CommandParser) -> None:
        parser.add_argument("returns_csv", metavar="RETURNS.csv", help="CSV with a header and the columns date,ret")
        parser.add_argument(
            "--periods", required=True, help="return periods a year: 365 daily crypto, 8760 hourly, 525600 for 1m"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")

    def handle_metrics(self, *, returns_csv: str, periods: str, **options: Any) -> None:
        per_year = _periods_parse(periods)
        path = Path(returns_csv)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"{returns_csv}: no such file") from None
        except IsADirectoryError:
            raise CommandError(f"{returns_csv}: a directory, not a CSV file") from None
        except UnicodeDecodeError:
            raise CommandError(f"{returns_csv}: not UTF-8 text") from None
        except OSError as error:
            raise CommandError(f"{returns_csv}: {error.strerror}") from None
        try:
            series = return_series_parse_csv(text)
        except ValueError as error:
            raise CommandError(f"{returns_csv}: {error}") from None
        metrics = performance_metrics(series.returns, periods=per_year)
        if options["json"]:
            report = {
                "metrics": metrics.metrics_json(),
                "periods": per_year,
                "observations": len(series.dates),
                "start": series.dates[0],
                "end": series.dates[-1],
            }
            self.stdout.write(json.dumps(report, allow_nan=False))
            return
        self.stdout.write(
            f"{returns_csv}: {len(series.dates)} returns from {series.dates[0]} to {series.dates[-1]}, "
            f"{per_year} periods a year"
        )
        width = max(map(len, METRIC_KEYS))
        for key, name in METRIC_KEYS.items():
            self.stdout.write(f"  {key:<{width}}  {_metric_text(key, getattr(metrics, name))}")
