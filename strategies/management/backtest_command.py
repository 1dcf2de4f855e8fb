"""The ``backtest`` subcommand of ``manage.py strategies`` (its arguments, handler and report), kept apart from the
command module so each subcommand is one self-contained piece.

    manage.py strategies backtest --strategy leadlag --exchanges binance,bybit --symbol BTC/USDT --interval 1m \\
        --start 2024-01-01 --end 2025-01-01 [--param k=v ...] [--cash 10000] [--fee-model venue|zero] \\
        [--slippage-bps N] [--latency-ms N] [--json]

The run is created (every input checked, nothing stored on bad input), executed in this process with a progress bar
on stderr, and stored like the API's runs. Then a readable report, or with ``--json`` one object (see
:func:`strategies.selectors.strategy_run_report`) in which nothing depends on the run's id or the clock: two
identical runs print identical bytes. The run id and the timings go to stderr.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hftplatform.core.decimal_text import decimal_text_keep_scale
from hftplatform.core.utc import utc_from_ms
from strategies import selectors, services
from strategies.core.portfolio import NAV_QUANTUM
from strategies.errors import StrategyError
from strategies.management import run_options

_RETURN_METRICS = frozenset({"annual_volatility", "max_drawdown", "cagr", "total_return", "var_5", "exposure"})


def _metric(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return str(value)
    text = f"{value:.4g}"
    return f"{text} ({value * 100:.2f} %)" if key in _RETURN_METRICS else text


class BacktestSubcommand(BaseCommand):
    """Mixed into the ``strategies`` command: ``arguments_backtest`` and ``handle_backtest``; its helpers are named
    ``_backtest_…``, apart from the other subcommands' (the mixins share one object)."""

    def arguments_backtest(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", required=True, help="a registered strategy: hold, leadlag")
        run_options.market_arguments(parser)
        run_options.window_arguments(parser)
        run_options.param_arguments(parser)
        run_options.cost_arguments(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")

    def handle_backtest(self, **options: Any) -> None:
        start = run_options.utc_ms_option(options["start"], "--start")
        end = run_options.utc_ms_option(options["end"], "--end")
        clock = time.perf_counter()
        try:
            run = services.strategy_run_create(
                strategy=options["strategy"],
                exchanges=options["exchanges"].split(","),
                symbol=options["symbol"],
                interval=options["interval"],
                start=utc_from_ms(start),
                end=utc_from_ms(end),
                parameters=run_options.pairs_option(options["param"]),
                cash=options["cash"],
                fee_model=options["fee_model"],
                slippage_bps=options["slippage_bps"],
                latency_ms=options["latency_ms"],
            )
            progress = run_options.ProgressBar(self.stderr, unit=" steps")
            run = services.strategy_run_execute(run_id=run.pk, progress=progress)
        except StrategyError as error:
            raise CommandError(error.message) from None
        self.stderr.write("")
        report = selectors.strategy_run_report(run=run)
        if options["json"]:
            self.stdout.write(json.dumps(report, allow_nan=False, sort_keys=False))
        else:
            self._backtest_report(report)
        stages = ", ".join(f"{k} {v:.2f}" for k, v in run.timings.items())
        self.stderr.write(f"run {run.pk}: {time.perf_counter() - clock:.2f} s ({stages})")

    def _backtest_report(self, report: dict[str, Any]) -> None:
        write = self.stdout.write
        markets = ", ".join(f"{m['exchange']} {m['symbol']}" for m in report["markets"])
        write(f"{report['strategy']} on {markets}, {report['interval']}, {report['start']} → {report['end']}")
        write(f"parameters: {json.dumps(report['parameters'])}")
        fees = ", ".join(f"{k} taker {v['taker']}" for k, v in report["fees"].items())
        cost = report["cost_model"]
        write(
            f"costs: {cost['fee_model']} fees ({fees}), slippage {cost['slippage_bps']} bps, "
            f"latency {cost['latency_ms']} ms"
        )
        benchmark = report["benchmark"]
        returns = report["returns"]
        write(
            f"\nmetrics on {returns.get('observations')} {returns.get('basis')} returns, "
            f"{returns.get('periods'):g} a year"
        )
        write(f"  {'metric':<18} {'strategy':>24} {'hold ' + benchmark.get('market', ''):>32}")
        bench_metrics = benchmark.get("metrics", {})
        for key, value in report["metrics"].items():
            write(f"  {key:<18} {_metric(key, value):>24} {_metric(key, bench_metrics.get(key)):>32}")
        cash = Decimal(report["cash"])
        final, held = Decimal(report["final_nav"]), Decimal(benchmark["final_nav"])
        write(
            f"\nfinal NAV {report['final_nav']} {report['numeraire']} (from {report['cash']}: "
            f"{(final / cash - 1) * 100:+.2f} %); hold {benchmark['final_nav']} ({(held / cash - 1) * 100:+.2f} %)"
        )
        # The report rounds to the NAV's 1e-8 for reading; --json keeps every digit.
        write("attribution: " + ", ".join(f"{k} {_money(v)}" for k, v in report["attribution"].items()))
        write(
            f"trades: {report['trade_count']} ({report['round_trips']} round trips), "
            f"traded notional {_money(report['traded_notional'])}"
        )
        refusals = report["refusals"]
        by_reason = ", ".join(f"{k} {v}" for k, v in refusals["by_reason"].items()) or "none"
        write(f"refusals: {refusals['count']} ({by_reason})")
        if report["halted"]:
            write(f"halted: {report['halted']}")


def _money(text: str) -> str:
    """Decimal text rounded half-even to 1e-8 for the readable report."""
    return decimal_text_keep_scale(Decimal(text).quantize(NAV_QUANTUM))
