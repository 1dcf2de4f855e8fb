"""The ``sweep`` and ``walkforward`` subcommands of ``manage.py strategies`` (arguments, handlers, reports), kept
apart from the command module so each subcommand is one self-contained piece.

    manage.py strategies sweep --exchanges binance,bybit --symbol BTC/USDT --interval 1m \\
        --start 2024-01-01 --end 2025-01-01 --param leader=binance --param follower=bybit \\
        --grid lookback=1,2,5 --grid threshold=0.001,0.002 [--grid hold_bars=...] [--grid stop=...] \\
        [--cash 10000] [--fee-model venue|zero] [--slippage-bps N] [--latency-ms N] [--chunk-size N] \\
        [--celery [--queue NAME]] [--top N] [--json]

    manage.py strategies walkforward ... (the same) --in-sample 90d --out-sample 30d [--step 30d] \\
        [--scheme rolling|anchored] [--objective sharpe|total_return|max_drawdown]

The study is created (every input checked, nothing stored on bad input), then run in this process, or with
``--celery`` queued one task per chunk for the workers while this command follows its progress. A progress bar
goes to stderr; then a readable report, or with ``--json`` one object ``{"sweep_id", "kind", "status",
"results"}``.
"""

from __future__ import annotations

import json
import math
import re
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hftplatform.core.utc import utc_from_ms, utc_iso
from strategies.errors import StrategySweepError
from strategies.management import run_options
from strategies.models import StrategySweep
from strategies.services import sweeps

POLL_SECONDS = 0.2
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def _duration_ms(text: str, option: str) -> int:
    """``90d``, ``12h``, ``30m``, ``500ms``: a positive duration in ms."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) <= 0:
        raise CommandError(f"{option}: {text!r} is not a duration such as 90d, 12h or 30m")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _number(value: Any, digits: str = ".4g") -> str:
    if value is None:
        return "-"
    return format(value, digits)


class SweepSubcommand(BaseCommand):
    """Mixed into the ``strategies`` command: ``arguments_sweep``/``handle_sweep`` and
    ``arguments_walkforward``/``handle_walkforward``."""

    def _study_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", default="leadlag", help="the strategy (the vectorised path has leadlag)")
        run_options.market_arguments(parser)
        run_options.window_arguments(parser)
        run_options.param_arguments(parser, help_text="a fixed parameter (repeat)")
        parser.add_argument(
            "--grid",
            action="append",
            default=[],
            metavar="NAME=V1,V2,...",
            help="a swept parameter and its values (repeat; every combination runs)",
        )
        run_options.cost_arguments(parser)
        parser.add_argument("--celery", action="store_true", help="queue one task per chunk for the workers")
        parser.add_argument("--queue", default=None, help="with --celery: the queue (default: the default queue)")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")

    def arguments_sweep(self, parser: CommandParser) -> None:
        self._study_arguments(parser)
        parser.add_argument(
            "--chunk-size", type=int, default=sweeps.DEFAULT_CHUNK_SIZE, help="grid points per task (default 8)"
        )
        parser.add_argument("--top", type=int, default=10, help="points shown in the report, best first")

    def arguments_walkforward(self, parser: CommandParser) -> None:
        self._study_arguments(parser)
        parser.add_argument("--in-sample", required=True, help="in-sample window: 90d, 12h, ...")
        parser.add_argument("--out-sample", required=True, help="out-of-sample window: 30d, ...")
        parser.add_argument("--step", default=None, help="between splits (default: the out-of-sample window)")
        parser.add_argument("--scheme", default="rolling", help="rolling or anchored")
        parser.add_argument("--objective", default="sharpe", help="sharpe, total_return or max_drawdown")

    def handle_sweep(self, **options: Any) -> None:
        self._study(options, walkforward=None, chunk_size=options["chunk_size"])

    def handle_walkforward(self, **options: Any) -> None:
        settings: dict[str, object] = {
            "scheme": options["scheme"],
            "in_sample_ms": _duration_ms(options["in_sample"], "--in-sample"),
            "out_sample_ms": _duration_ms(options["out_sample"], "--out-sample"),
            "objective": options["objective"],
        }
        if options["step"] is not None:
            settings["step_ms"] = _duration_ms(options["step"], "--step")
        self._study(options, walkforward=settings, chunk_size=sweeps.DEFAULT_CHUNK_SIZE)

    # -- running --------------------------------------------------------------------------------------------

    def _study(self, options: dict[str, Any], *, walkforward: dict[str, object] | None, chunk_size: int) -> None:
        grid = {name: [v.strip() for v in values.split(",") if v.strip()] for name, values in run_options.pairs_option(
            options["grid"], "--grid"
        ).items()}  # fmt: skip
        if not grid:
            raise CommandError("--grid: give at least one swept parameter, e.g. --grid threshold=0.001,0.002")
        try:
            cash = Decimal(options["cash"])
        except InvalidOperation:
            raise CommandError(f"--cash: {options['cash']!r} is not a number") from None
        clock = time.perf_counter()
        try:
            study = sweeps.strategy_sweep_create(
                strategy=options["strategy"],
                exchanges=[e.strip() for e in options["exchanges"].split(",") if e.strip()],
                symbol=options["symbol"],
                interval=options["interval"],
                start_ms=run_options.utc_ms_option(options["start"], "--start"),
                end_ms=run_options.utc_ms_option(options["end"], "--end"),
                parameters=run_options.pairs_option(options["param"]),
                grid=grid,
                cash=cash,
                cost_model=run_options.cost_model_option(options),
                walkforward=walkforward,
                chunk_size=chunk_size,
            )
            progress = run_options.ProgressBar(self.stderr)
            progress(0, study.progress_total)
            if options["celery"]:
                study = self._follow(study, options["queue"], progress)
            else:
                study = sweeps.strategy_sweep_execute(sweep_id=study.pk, progress=progress)
        except StrategySweepError as error:
            raise CommandError(str(error)) from None
        self.stderr.write("")
        if study.status != StrategySweep.Status.DONE:
            raise CommandError(f"{study.kind} {study.pk} {study.status}: {study.error}")
        if options["json"]:
            report = {"sweep_id": study.pk, "kind": study.kind, "status": study.status, "results": study.results}
            self.stdout.write(json.dumps(report, allow_nan=False))
        elif study.kind == StrategySweep.Kind.WALKFORWARD:
            self._walkforward_report(study)
        else:
            self._sweep_report(study, options["top"])
        self.stderr.write(f"{study.kind} {study.pk}: {time.perf_counter() - clock:.2f} s")

    def _follow(self, study: StrategySweep, queue: str | None, progress: run_options.ProgressBar) -> StrategySweep:
        from hftplatform.celery import app

        # By name: the task module is Celery's (untyped) side of the same service.
        app.send_task("strategies.tasks.strategy_sweep_run", args=(study.pk, queue), queue=queue)
        while study.status not in (StrategySweep.Status.DONE, StrategySweep.Status.FAILED):
            time.sleep(POLL_SECONDS)
            study.refresh_from_db()
            progress(study.progress_done, study.progress_total)
        return study

    # -- reports --------------------------------------------------------------------------------------------

    def _header(self, study: StrategySweep) -> None:
        venues = ", ".join(m["exchange"] for m in study.markets)
        self.stdout.write(
            f"{study.kind} {study.pk}: {study.strategy} on {study.markets[0]['symbol']} {study.interval} ({venues}), "
            f"{utc_iso(utc_from_ms(study.start_ms))} to {utc_iso(utc_from_ms(study.end_ms))}, cash {study.cash}"
        )
        if study.results.get("bars_dropped"):
            self.stdout.write(f"  {study.results['bars_dropped']} bar(s) left out: not on every venue")

    def _sweep_report(self, study: StrategySweep, top: int) -> None:
        self._header(study)
        points = study.results["points"]

        def key(p: dict[str, Any]) -> float:
            return -math.inf if p["sharpe"] is None else float(p["sharpe"])

        ranked = sorted(points, key=key, reverse=True)[: max(0, top)]
        self._benchmark(study.results["benchmark"])
        self.stdout.write(f"  {len(points)} points over {study.results['bars']:,} bars; best {len(ranked)} by Sharpe:")
        self.stdout.write(
            f"  {'lookback':>8} {'threshold':>10} {'hold':>5} {'stop':>8} {'size':>5}  {'final NAV':>12} "
            f"{'return':>9} {'Sharpe':>8} {'max DD':>8} {'trades':>7} {'exposure':>8}"
        )
        for p in ranked:
            q = p["point"]
            self.stdout.write(
                f"  {q['lookback']:>8} {q['threshold']:>10g} {q['hold_bars']:>5} {q['stop']:>8g} {q['size']:>5g}  "
                f"{_number(p['final_nav'], '.2f'):>12} {_number(p['total_return'], '.2%'):>9} "
                f"{_number(p['sharpe'], '.3f'):>8} {_number(p['max_drawdown'], '.2%'):>8} {p['trades']:>7} "
                f"{_number(p['exposure'], '.1%'):>8}"
            )

    def _benchmark(self, bench: dict[str, Any]) -> None:
        self.stdout.write(
            f"  benchmark (hold {bench['market']}): return "
            f"{_number(bench['total_return'], '.2%')}, Sharpe {_number(bench['sharpe'], '.3f')}, max drawdown "
            f"{_number(bench['max_drawdown'], '.2%')}, final NAV {_number(bench['final_nav'], '.2f')}"
        )

    def _walkforward_report(self, study: StrategySweep) -> None:
        self._header(study)
        results = study.results
        self.stdout.write(
            f"  {len(results['splits'])} {study.splits['scheme']} splits, chosen by {results['objective']}"
        )
        self.stdout.write(
            f"  {'out of sample':<34} {'chosen (lookback/threshold/hold/stop)':<38} {'IS Sharpe':>9} "
            f"{'OOS Sharpe':>10} {'OOS return':>10}"
        )
        for s in results["splits"]:
            q = s["chosen"]
            window = f"{utc_iso(utc_from_ms(s['out_start_ms']))[:16]} .. {utc_iso(utc_from_ms(s['out_end_ms']))[:10]}"
            chosen = f"{q['lookback']}/{q['threshold']:g}/{q['hold_bars']}/{q['stop']:g}"
            self.stdout.write(
                f"  {window:<34} {chosen:<38} {_number(s['in_sample']['sharpe'], '.3f'):>9} "
                f"{_number(s['out_sample']['sharpe'], '.3f'):>10} {_number(s['out_sample']['total_return'], '.2%'):>10}"
            )
        oos, ins = results["out_of_sample"], results["in_sample_mean"]
        self.stdout.write(
            f"  in sample (mean of splits): return {_number(ins['total_return'], '.2%')}, "
            f"Sharpe {_number(ins['sharpe'], '.3f')}, max drawdown {_number(ins['max_drawdown'], '.2%')}"
        )
        self.stdout.write(
            f"  out of sample (stitched):   return {_number(oos['total_return'], '.2%')}, "
            f"Sharpe {_number(oos['sharpe'], '.3f')}, max drawdown {_number(oos['max_drawdown'], '.2%')}, "
            f"final NAV {_number(oos['final_nav'], '.2f')}"
        )
        self._benchmark(results["benchmark"])
