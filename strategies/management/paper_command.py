"""The ``paper`` subcommand of ``manage.py strategies``: paper runs started, stepped, stopped and shown.

    manage.py strategies paper start --strategy leadlag --exchanges binance,bybit --symbol BTC/USDT --interval 1m \\
        [--param k=v ...] [--cash 10000] [--fee-model venue|zero] [--slippage-bps N] [--latency-ms N] [--json]
    manage.py strategies paper status [RUN_ID] [--json]     # no id: every running paper run
    manage.py strategies paper step RUN_ID                  # one step now (beat does this every few seconds)
    manage.py strategies paper stop RUN_ID

A started run is stepped by Celery beat (``strategies.tasks.strategy_paper_step_all``) from the next candle on;
its markets must be tracked at the interval (the live candle sync), and a live order-book watcher
(``manage.py orderbook watch``) lets its market orders fill against the book instead of the next candle's open.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hftplatform.core.utc import utc_from_ms, utc_iso
from strategies import selectors
from strategies.errors import StrategyPaperError
from strategies.management import run_options
from strategies.models import StrategyRun
from strategies.services import paper


class PaperSubcommand(BaseCommand):
    """Mixed into the ``strategies`` command: ``arguments_paper`` and ``handle_paper``."""

    def arguments_paper(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="paper_action", required=True)
        start = actions.add_parser("start", help="start a paper run (stepped by Celery beat)")
        start.add_argument("--strategy", required=True, help="a registered strategy: hold, leadlag")
        run_options.market_arguments(start, interval_help="candle interval the markets are tracked at: 1m 5m 1h")
        run_options.param_arguments(start)
        run_options.cost_arguments(start, slippage_help="slippage on a fill at a candle's open, in bps")
        start.add_argument("--json", action="store_true", help="print the run's status as one JSON object")
        status = actions.add_parser("status", help="a paper run's status, or every running one's")
        status.add_argument("run_id", type=int, nargs="?", help="a paper run's id (default: every running run)")
        status.add_argument("--json", action="store_true", help="print JSON instead of text")
        step = actions.add_parser("step", help="step a paper run now")
        step.add_argument("run_id", type=int)
        stop = actions.add_parser("stop", help="stop a paper run (its ledger and state stay)")
        stop.add_argument("run_id", type=int)

    def handle_paper(self, *, paper_action: str, **options: Any) -> None:
        getattr(self, f"_paper_{paper_action}")(**options)

    def _paper_start(self, **options: Any) -> None:
        try:
            run = paper.strategy_paper_start(
                strategy=options["strategy"],
                exchanges=[e for e in options["exchanges"].split(",") if e.strip()],
                symbol=options["symbol"],
                interval=options["interval"],
                cash=options["cash"],
                parameters=run_options.pairs_option(options["param"]),
                cost_model=run_options.cost_model_option(options),
            )
        except StrategyPaperError as error:
            raise CommandError(str(error)) from None
        self._paper_show(run.pk, as_json=options["json"])
        if not options["json"]:
            self.stdout.write(f"started: beat steps it from {_iso(run.start_ms)} on")

    def _paper_status(self, *, run_id: int | None, **options: Any) -> None:
        ids = [run_id] if run_id is not None else selectors.paper_runs_running()
        if run_id is None and not ids:
            self.stdout.write("[]" if options["json"] else "no paper run is running")
            return
        if run_id is None and options["json"]:
            statuses = [selectors.paper_run_status(run_id=i) for i in ids]
            self.stdout.write(json.dumps(statuses, indent=2))
            return
        for i in ids:
            self._paper_show(i, as_json=options["json"])

    def _paper_step(self, *, run_id: int, **options: Any) -> None:
        self._paper_run_check(run_id)
        try:
            result = paper.strategy_paper_step(run_id=run_id)
        except StrategyPaperError as error:
            raise CommandError(str(error)) from None
        if result is None:
            self.stdout.write(f"paper run {run_id} is not running, or another worker is stepping it")
        elif result.steps == 0:
            self.stdout.write(f"paper run {run_id}: nothing new since {_iso(result.last_event_ms)}")
        else:
            self.stdout.write(
                f"paper run {run_id}: {result.steps} step(s) to {_iso(result.last_event_ms)}, {result.trades} "
                f"trade(s) ({result.book_fills} against the book), {result.refusals} refusal(s), NAV "
                f"{result.final_nav}"
            )

    def _paper_stop(self, *, run_id: int, **options: Any) -> None:
        self._paper_run_check(run_id)
        run = paper.strategy_paper_stop(run_id=run_id)
        self.stdout.write(f"paper run {run_id}: {run.status}")

    def _paper_run_check(self, run_id: int) -> None:
        if not StrategyRun.objects.filter(pk=run_id, mode=StrategyRun.Mode.PAPER).exists():
            raise CommandError(f"no paper run {run_id}")

    def _paper_show(self, run_id: int, *, as_json: bool) -> None:
        try:
            status = selectors.paper_run_status(run_id=run_id)
        except StrategyRun.DoesNotExist:
            raise CommandError(f"no paper run {run_id}") from None
        if as_json:
            self.stdout.write(json.dumps(status, indent=2))
            return
        nav = "—" if status["final_nav"] is None else f"{Decimal(status['final_nav']):f} {status['numeraire']}"
        lines = [
            f"paper run {status['id']}  {status['strategy']}  {status['status']}",
            f"  markets   {', '.join(status['markets'])} ({status['interval']})",
            f"  params    {', '.join(f'{k}={v}' for k, v in status['parameters'].items()) or '—'}",
            f"  cash      {status['cash']} {status['numeraire']}   NAV {nav}",
            f"  stepped   {status['steps']} step(s), last {status['last_event'] or '—'}",
            f"  trades    {status['trades']} ({status['book_fills']} against the book), "
            f"{status['waiting_orders']} order(s) waiting, {status['refusals']} refusal(s)",
        ]
        if status["halted"]:
            lines.append(f"  halted    {status['halted']}")
        if status["error"]:
            lines.append(f"  error     {status['error']}")
        self.stdout.write("\n".join(lines))


def _iso(ms: int | None) -> str:
    return "—" if ms is None else utc_iso(utc_from_ms(ms))
