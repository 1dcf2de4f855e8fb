"""Reads for strategies: bars straight into the engine's numpy columns, runs, their ledger, NAV points and refusals,
and the roles the latest stored lead-lag analysis gives a market's venues.

Times are integer milliseconds UTC, windows half-open ``[start_ms, end_ms)``. Money comes back as the exact
``Decimal`` that was stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import QuerySet

from hftplatform.core.decimal_text import decimal_text_keep_scale, decimal_text_trim_zeros
from hftplatform.core.utc import utc_from_ms, utc_iso
from marketdata.core.intervals import interval_get
from marketdata.models import LeadLagRun
from orderbook.selectors import orderbook_snapshot_get
from strategies.core.data import BarSeries, DataError
from strategies.core.markets import Market
from strategies.core.metrics import METRIC_KEYS
from strategies.core.paper import BookSide, PaperState
from strategies.core.params import ParamError, params_describe
from strategies.core.risk import RISK_LIMIT_KEYS
from strategies.core.strategy import STRATEGIES
from strategies.models import StrategyLedgerEntry, StrategyNavPoint, StrategyRefusal, StrategyRun
from strategies.registry import strategy_class

_CLOSED_WINDOW = "instrument_id = %s AND interval = %s AND open_time >= %s AND open_time < %s AND closed"
_CLOSED_WINDOW_NAMED = (
    "instrument_id = %(instrument)s AND interval = %(interval)s AND open_time >= %(start)s AND open_time < %(end)s"
    " AND closed"
)
_PRICES = ("open", "high", "low", "close")
# The largest decimal scale of the window's prices, how many closed candles it holds, and the largest price.
_SCALE_SQL = f"""
    SELECT coalesce(max(greatest(scale(open), scale(high), scale(low), scale(close))), 0), count(*), max(high)
    FROM marketdata_kline WHERE {_CLOSED_WINDOW}
"""  # noqa: S608  (constants only)
# Each price times 10^s as int8, packed by the server into one bytea per chunk of candles (big-endian int8 open
# time, open, high, low, close and float8 volume, 48 bytes a candle) that numpy reads as it is. A binary COPY sends
# one message per row, and reading 525,600 of them costs the client seconds of Python under the GIL; a few dozen
# chunks cost nothing, and the venues' reads then overlap on the server. The int8 cast rounds, so each row is
# checked in SQL first: a price has at most s decimals exactly when its scaled value is an integer, and a row where
# one has more (none can at the window's largest scale, but a candle stored between the two statements could) gets
# an open of -1, which no price is and the reader refuses.
_CHUNK_CANDLES = 65_536
# Each chunk is an index range scan, already in time order, that the aggregate reads as it comes (no sort: sorting
# half a million rows by chunk and then by time cost a third of the read). Should the order ever differ, the series
# refuses times that do not increase: a read can fail, never come back shuffled.
_BARS_SQL = """
    SELECT (
        SELECT string_agg(row_bytes, ''::bytea) FROM (
            SELECT int8send(open_time)
                || int8send(CASE WHEN greatest({scales}) <= %(s)s THEN (open * %(f)s::numeric)::int8 ELSE -1 END)
                || {rest} AS row_bytes
            FROM marketdata_kline
            WHERE instrument_id = %(instrument)s AND interval = %(interval)s AND closed
                AND open_time >= chunk AND open_time < least(chunk + %(chunk_ms)s, %(end)s)
            ORDER BY open_time
        ) AS chunk_rows
    )
    FROM generate_series(%(start)s::bigint, %(end)s::bigint - 1, %(chunk_ms)s::bigint) AS chunk ORDER BY chunk
"""
_BARS_OHLCV_SQL = _BARS_SQL.format(
    scales="scale(open), scale(high), scale(low), scale(close)",
    rest="int8send((high * %(f)s::numeric)::int8) || int8send((low * %(f)s::numeric)::int8)\n"
    "                || int8send((close * %(f)s::numeric)::int8) || float8send(volume::float8)",
)
# Opens and closes only (16 bytes less a candle, and half the numeric casts, which are most of the read): what the
# vectorised path of sweeps needs, as it fills market orders at opens and decides at closes.
_BARS_OPEN_CLOSE_SQL = _BARS_SQL.format(
    scales="scale(open), scale(close)", rest="int8send((close * %(f)s::numeric)::int8)"
)
_BAR_ROW = np.dtype(
    [("open_time", ">i8"), ("open", ">i8"), ("high", ">i8"), ("low", ">i8"), ("close", ">i8"), ("volume", ">f8")]
)
_OPEN_CLOSE_ROW = np.dtype([("open_time", ">i8"), ("open", ">i8"), ("close", ">i8")])
_INT8_MAX = 2**63 - 1


def bar_series_read(
    *, instrument_id: int, interval: str, start_ms: int, end_ms: int, market: Market, opens_closes_only: bool = False
) -> BarSeries:
    """The closed candles of ``[start_ms, end_ms)`` as the engine's :class:`BarSeries`: prices as exact integers
    ``price * 10**scale``, ``scale`` the largest decimal scale of the window's stored prices, volume as float64.
    With ``opens_closes_only`` (the vectorised path's read, faster) only opens and closes are read: high and low are
    the larger and smaller of the two, and volume is zero.

    Two statements: the scale (and count) in SQL, then the scaled prices, each row checked in SQL to be exact at
    that scale, packed by the server into a few binary chunks that numpy reads without a Python loop.
    Raises :class:`~strategies.core.data.DataError` for a monthly interval, a price whose scaled value would not fit
    in int64, or one that is not an exact integer once scaled.
    """
    length_ms = interval_get(interval).length_ms
    if length_ms is None:
        raise DataError(f"{market}: {interval} candles have no fixed length; the engine needs one")
    window: list[int | str] = [instrument_id, interval, start_ms, end_ms]
    with connection.cursor() as cursor:
        cursor.execute(_SCALE_SQL, window)
        scale, count, highest = cursor.fetchone()
    if count == 0:
        return BarSeries.empty(market, length_ms)
    factor = 10**scale
    if highest * factor > _INT8_MAX:
        raise DataError(f"{market}: prices at scale {scale} do not fit in 64-bit integers")
    named: dict[str, int | str] = {"instrument": instrument_id, "interval": interval, "start": start_ms, "end": end_ms}
    named.update({"s": scale, "f": factor, "chunk_ms": _CHUNK_CANDLES * length_ms})
    with connection.cursor() as cursor:
        cursor.execute(_BARS_OPEN_CLOSE_SQL if opens_closes_only else _BARS_OHLCV_SQL, named)
        chunks = [bytes(chunk) for (chunk,) in cursor.fetchall() if chunk is not None]  # None: a chunk of no candles
    rows = np.frombuffer(b"".join(chunks), dtype=_OPEN_CLOSE_ROW if opens_closes_only else _BAR_ROW)
    if len(rows) and bool((rows["open"] < 0).any()):
        raise DataError(f"{market}: a price is not an exact integer at scale {scale}")
    if opens_closes_only:
        opens, closes = rows["open"].astype(np.int64), rows["close"].astype(np.int64)
        return BarSeries(
            market=market,
            interval_ms=length_ms,
            open_ms=rows["open_time"].astype(np.int64),
            open=opens,
            high=np.maximum(opens, closes),
            low=np.minimum(opens, closes),
            close=closes,
            volume=np.zeros(len(rows), dtype=np.float64),
            scale=int(scale),
        )
    return BarSeries(
        market=market,
        interval_ms=length_ms,
        open_ms=rows["open_time"].astype(np.int64),
        open=rows["open"].astype(np.int64),
        high=rows["high"].astype(np.int64),
        low=rows["low"].astype(np.int64),
        close=rows["close"].astype(np.int64),
        volume=rows["volume"].astype(np.float64),
        scale=int(scale),
    )


def closed_candles_count(*, instrument_id: int, interval: str, start_ms: int, end_ms: int) -> int:
    """How many closed candles the window holds (stops at the first: only whether there are any matters)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM marketdata_kline WHERE {_CLOSED_WINDOW} LIMIT 1) AS first",  # noqa: S608
            [instrument_id, interval, start_ms, end_ms],
        )
        return int(cursor.fetchone()[0])


# -- runs --------------------------------------------------------------------------------------------------------


def strategy_runs_list(*, user: Any | None = None, mode: str | None = None) -> QuerySet[StrategyRun]:
    """Runs, newest first: ``user``'s own (a staff user sees every run; ``None``: every run)."""
    runs = StrategyRun.objects.all()
    if user is not None and not user.is_staff:
        runs = runs.filter(created_by_id=user.pk)
    if mode is not None:
        runs = runs.filter(mode=mode)
    return runs.order_by("-created", "-id")


def strategy_run_get(*, run_id: int, user: Any | None = None) -> StrategyRun:
    """One run (``user``'s own unless staff; ``None``: any); raises ``StrategyRun.DoesNotExist``."""
    return strategy_runs_list(user=user).get(pk=run_id)


def strategy_ledger_list(*, run_id: int, kind: str | None = None) -> QuerySet[StrategyLedgerEntry]:
    """A run's ledger in booking order; ``kind="trade"`` for its fills only."""
    rows = StrategyLedgerEntry.objects.filter(run_id=run_id)
    if kind is not None:
        rows = rows.filter(kind=kind)
    return rows.order_by("seq")


def strategy_nav_list(*, run_id: int) -> QuerySet[StrategyNavPoint]:
    """A run's NAV points by time."""
    return StrategyNavPoint.objects.filter(run_id=run_id).order_by("time_ms")


def strategy_nav_series(*, run_id: int) -> tuple[list[int], list[Decimal]]:
    """A run's NAV points as two lists, times (ms) and exact NAVs, in one query without model instances."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT time_ms, nav FROM strategies_strategynavpoint WHERE run_id = %s ORDER BY time_ms", [run_id]
        )
        rows = cursor.fetchall()
    return [row[0] for row in rows], [row[1] for row in rows]


def strategy_refusals_list(*, run_id: int) -> QuerySet[StrategyRefusal]:
    """A run's refusals by time, then in the order they were recorded."""
    return StrategyRefusal.objects.filter(run_id=run_id).order_by("time_ms", "id")


# -- lead-lag roles ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadLagRoles:
    leader: str
    follower: str
    run_id: int  # the lead-lag run that named them


def leadlag_roles_latest(*, symbol: str, venues: list[str], interval: str | None = None) -> LeadLagRoles | None:
    """The leader and follower among ``venues`` by the newest finished lead-lag run of ``symbol`` (of ``interval``
    first, any interval otherwise) whose report names a leader for a pair of them; None when no run does."""
    wanted = set(venues)
    runs = LeadLagRun.objects.filter(symbol=symbol.upper(), status=LeadLagRun.Status.DONE).order_by("-created", "-id")
    candidates = ([runs.filter(interval=interval)] if interval else []) + [runs]
    for query in candidates:
        for run in query[:50]:
            for pair in (run.outputs or {}).get("pairs", []):
                leader, follower = pair.get("leader"), pair.get("follower")
                if leader and follower and {leader, follower} <= wanted and leader != follower:
                    return LeadLagRoles(leader=leader, follower=follower, run_id=run.pk)
    return None


# -- a finished run as one JSON-ready report (the command's --json) ---------------------------------------------


# Key orders of the report's objects (jsonb keeps its own order, by key length): as the metrics module and the
# cost model and risk limits list them.
_METRICS_ORDER = (*METRIC_KEYS, "turnover", "exposure", "hit_rate", "profit_factor", "round_trips")
_COST_ORDER = ("fee_model", "slippage_bps", "latency_ms", "funding", "fee_overrides")
_RETURNS_ORDER = ("basis", "periods", "observations")
_ATTRIBUTION_ORDER = ("total", "price", "fees", "slippage", "funding", "interest", "gas")


def _ordered(values: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """``values`` with ``keys`` first in that order, then any others by name."""
    ordered = {key: values[key] for key in keys if key in values}
    ordered.update({key: values[key] for key in sorted(values) if key not in ordered})
    return ordered


def _parameters_ordered(strategy: str, parameters: dict[str, Any]) -> dict[str, Any]:
    try:
        names = [f.name for f in dataclasses.fields(strategy_class(strategy).Params)]
    except ParamError:
        names = []
    return _ordered(parameters, names)


def strategy_run_report(*, run: StrategyRun) -> dict[str, Any]:
    """A finished run as one JSON-ready object: its inputs, ``metrics`` (snake_case), ``final_nav`` (decimal text),
    ``benchmark``, ``attribution``, ``trades`` (``time`` ISO UTC, ``venue``, ``symbol``, ``side``, ``quantity``,
    ``price``, ``fee``, …) and ``nav`` (``[iso_time, decimal_text]`` per step). Nothing in it depends on when or as
    which row the run was stored, so two identical runs give identical reports."""
    result = dict(run.result)
    trades = [
        {
            "time": utc_iso(utc_from_ms(e.time_ms)),
            "venue": e.venue,
            "symbol": e.symbol,
            "side": e.side,
            "quantity": decimal_text_trim_zeros(e.quantity),
            "price": decimal_text_trim_zeros(e.price),
            "fee": decimal_text_trim_zeros(e.fee),
            "fee_asset": e.fee_asset,
            "slippage": decimal_text_trim_zeros(e.slippage),
            "tag": e.tag,
        }
        for e in strategy_ledger_list(run_id=run.pk, kind="trade")
    ]
    times, navs = strategy_nav_series(run_id=run.pk)
    report: dict[str, Any] = {
        "strategy": run.strategy,
        "parameters": _parameters_ordered(run.strategy, run.parameters),
        "markets": [{"exchange": m["exchange"], "symbol": m["symbol"]} for m in run.markets],
        "interval": run.interval,
        "start": utc_iso(utc_from_ms(run.start_ms)),
        "end": utc_iso(utc_from_ms(run.end_ms)) if run.end_ms is not None else None,
        "cash": decimal_text_trim_zeros(run.cash),
        "numeraire": run.numeraire,
        "cost_model": _ordered(run.cost_model, _COST_ORDER),
        "risk_limits": _ordered(run.risk_limits, RISK_LIMIT_KEYS),
        "metrics": _ordered(result.get("metrics", {}), _METRICS_ORDER),
        "returns": _ordered(result.get("returns", {}), _RETURNS_ORDER),
        "final_nav": decimal_text_keep_scale(run.final_nav) if run.final_nav is not None else None,
        "benchmark": _benchmark_ordered(result.get("benchmark", {})),
        "attribution": _ordered(result.get("attribution", {}), _ATTRIBUTION_ORDER),
        "trade_count": len(trades),
        "round_trips": result.get("round_trips", 0),
        "refusals": {"count": result.get("refusals", 0), "by_reason": result.get("refusals_by_reason", {})},
        "traded_notional": result.get("traded_notional", "0"),
        "fees": result.get("fees", {}),
        "bars": result.get("bars", 0),
        "steps": result.get("steps", 0),
        "halted": result.get("halted", ""),
        "unfilled": result.get("unfilled", 0),
        "trades": trades,
        "nav": [[at, decimal_text_keep_scale(v)] for at, v in zip(iso_times(times), navs, strict=True)],
    }
    if "roles" in result:
        report["roles"] = result["roles"]
    return report


_DAY_MS = 86_400_000


def iso_times(times: Sequence[int]) -> list[str]:
    """``utc_iso(utc_from_ms(t))`` for each of ``times`` (ms UTC), the same text, with the date written once a day:
    a year of 1m steps is half a million datetimes otherwise."""
    out: list[str] = []
    day_seen, prefix = None, ""
    for t in times:
        day, ms = divmod(t, _DAY_MS)
        if ms % 1000 or day < 0:
            out.append(utc_iso(utc_from_ms(t)))
            continue
        if day != day_seen:
            day_seen, prefix = day, utc_from_ms(day * _DAY_MS).date().isoformat() + "T"
        seconds = ms // 1000
        out.append(f"{prefix}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z")
    return out


def _benchmark_ordered(benchmark: dict[str, Any]) -> dict[str, Any]:
    if not benchmark:
        return {}
    return {
        "strategy": benchmark.get("strategy"),
        "market": benchmark.get("market"),
        "final_nav": benchmark.get("final_nav"),
        "metrics": _ordered(benchmark.get("metrics", {}), _METRICS_ORDER),
        "returns": _ordered(benchmark.get("returns", {}), _RETURNS_ORDER),
        "attribution": _ordered(benchmark.get("attribution", {}), _ATTRIBUTION_ORDER),
    }


# -- registered strategies -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrategyDescription:
    name: str
    family: str
    description: str
    parameters: list[dict[str, Any]]  # params_describe: name, type, default, required, help


def strategies_registered() -> list[StrategyDescription]:
    """Every registered strategy, by name, with its parameters described."""
    return [
        StrategyDescription(cls.name, cls.family, cls.description, params_describe(cls.Params))
        for _, cls in sorted(STRATEGIES.items())
    ]


# -- charts of a run (the run and compare pages): bucketed in SQL, floats for drawing only -----------------------

CHART_POINTS = 1500
CHART_TRADES = 2000

_NAV_CHART_SQL = """
    WITH steps AS (
        SELECT time_ms, nav::float8 AS nav, row_number() OVER (ORDER BY time_ms) - 1 AS i,
            greatest(max(nav::float8) OVER (ORDER BY time_ms), %(cash)s) AS peak
        FROM strategies_strategynavpoint WHERE run_id = %(run)s
    )
    SELECT max(time_ms), (array_agg(nav ORDER BY time_ms DESC))[1], min(nav / peak - 1)
    FROM steps GROUP BY i / %(bucket)s ORDER BY 1
"""
_PRICE_CHART_SQL = f"""
    SELECT max(open_time) + %(length)s, (array_agg(close::float8 ORDER BY open_time DESC))[1]
    FROM marketdata_kline WHERE {_CLOSED_WINDOW_NAMED}
    GROUP BY (open_time - %(start)s) / %(bucket_ms)s ORDER BY 1
"""  # noqa: S608  (constants only)


def strategy_run_chart(*, run: StrategyRun, points: int = CHART_POINTS) -> dict[str, Any]:
    """What the run page draws: the equity curve (the last NAV of each of at most ``points`` buckets of steps), its
    drawdown (the deepest in each bucket, against the running peak of the whole series anchored at the starting
    cash), the traded market's closes (bucketed alike) and the trades to mark on them (at most
    :data:`CHART_TRADES`, evenly picked). Floats: for drawing, never for accounting."""
    steps = int((run.result or {}).get("steps") or 0)
    chart: dict[str, Any] = {"run": run.pk, "cash": float(run.cash), "nav": [], "price": None, "trades": []}
    if not steps or run.status != StrategyRun.Status.DONE:
        return chart
    bucket = -(-steps // points)
    with connection.cursor() as cursor:
        cursor.execute(_NAV_CHART_SQL, {"run": run.pk, "cash": float(run.cash), "bucket": bucket})
        chart["nav"] = [[t, nav, drawdown] for t, nav, drawdown in cursor.fetchall()]
    market_key = (run.result.get("benchmark") or {}).get("market", "")
    spec = next((m for m in run.markets if f"{m['exchange']}:{m['symbol']}" == market_key), None)
    length = interval_get(run.interval).length_ms
    if spec is not None and length is not None and run.end_ms is not None:
        bars = -(-(run.end_ms - run.start_ms) // length)
        with connection.cursor() as cursor:
            cursor.execute(
                _PRICE_CHART_SQL,
                {
                    "instrument": spec["instrument_id"],
                    "interval": run.interval,
                    "start": run.start_ms,
                    "end": run.end_ms,
                    "length": length,
                    "bucket_ms": max(1, -(-bars // points)) * length,
                },
            )
            chart["price"] = {"market": market_key, "points": [[t, c] for t, c in cursor.fetchall()]}
    trades = strategy_ledger_list(run_id=run.pk, kind="trade").values_list(
        "time_ms", "venue", "symbol", "side", "price"
    )
    count = trades.count()
    step = max(1, -(-count // CHART_TRADES))
    chart["trades_total"] = count
    chart["trades"] = [
        [t, f"{venue}:{symbol}", side, float(price)]
        for k, (t, venue, symbol, side, price) in enumerate(trades.iterator())
        if k % step == 0
    ]
    return chart


# Reads of paper mode: the closed candles a batch of a paper run needs (the new ones and the warm-up before them),
# how far every market of a run has closed, a venue's live book from the order-book registry, the running paper runs
# and one run's status.
#
# Times are integer milliseconds UTC. Candles come back as the stored decimal text (PostgreSQL NUMERIC without
# typmod prints the scale it was given), only closed ones: the still-open candle the live sync keeps is never read.

BarRow = tuple[int, str, str, str, str, str]  # open_ms, open, high, low, close, volume

_COLUMNS = "open_time, open::text, high::text, low::text, close::text, volume::text"
_MARKET = "instrument_id = %s AND interval = %s AND closed AND open_time >= %s"
# The warm-up: the latest bars that closed by the last processed step, newest first.
_WARMUP_SQL = f"SELECT {_COLUMNS} FROM marketdata_kline WHERE {_MARKET} AND open_time <= %s ORDER BY open_time DESC"  # noqa: S608
_NEW_SQL = (
    f"SELECT {_COLUMNS} FROM marketdata_kline WHERE {_MARKET} AND open_time > %s AND open_time <= %s"  # noqa: S608
    " ORDER BY open_time"
)
_COUNT_SQL = f"SELECT count(*) FROM marketdata_kline WHERE {_MARKET} AND open_time < %s"  # noqa: S608
_LAST_SQL = f"SELECT max(open_time) FROM marketdata_kline WHERE {_MARKET}"  # noqa: S608


@dataclass(frozen=True, slots=True)
class PaperBars:
    """One market's bars for a batch: ``rows`` ascending, and ``offset`` closed bars since the run's start before
    the first of them."""

    rows: list[BarRow]
    offset: int


def paper_bars_read(
    *,
    instrument_id: int,
    interval: str,
    interval_ms: int,
    start_ms: int,
    last_event_ms: int | None,
    horizon_ms: int,
    warmup: int | None,
) -> PaperBars:
    """The closed candles of one market opening at or after ``start_ms`` (the run's start) and closing by
    ``horizon_ms``: all of them on a run's first batch (``last_event_ms`` None); afterwards those that closed after
    ``last_event_ms`` plus the ``warmup`` latest that closed by it (None: all since the start)."""
    last_open = horizon_ms - interval_ms
    with connection.cursor() as cursor:
        if last_event_ms is None:
            cursor.execute(_NEW_SQL, [instrument_id, interval, start_ms, start_ms - 1, last_open])
            return PaperBars(_rows(cursor.fetchall()), 0)
        warm_open = last_event_ms - interval_ms
        sql = _WARMUP_SQL if warmup is None else _WARMUP_SQL + " LIMIT %s"
        cursor.execute(sql, [instrument_id, interval, start_ms, warm_open, *([] if warmup is None else [warmup])])
        before = _rows(cursor.fetchall())[::-1]
        cursor.execute(_NEW_SQL, [instrument_id, interval, start_ms, warm_open, last_open])
        new = _rows(cursor.fetchall())
        offset = 0
        if warmup is not None and before:
            cursor.execute(_COUNT_SQL, [instrument_id, interval, start_ms, before[0][0]])
            row = cursor.fetchone()
            offset = int(row[0]) if row else 0
    return PaperBars(before + new, offset)


def _rows(rows: Sequence[tuple[Any, ...]]) -> list[BarRow]:
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5])) for r in rows]


def paper_last_closes(
    *, instrument_ids: Sequence[int], interval: str, interval_ms: int, start_ms: int
) -> list[int | None]:
    """Per market (in the given order), when its latest closed candle since ``start_ms`` closed (ms), or None."""
    closes: list[int | None] = []
    with connection.cursor() as cursor:
        for instrument_id in instrument_ids:
            cursor.execute(_LAST_SQL, [instrument_id, interval, start_ms])
            row = cursor.fetchone()
            closes.append(None if row is None or row[0] is None else int(row[0]) + interval_ms)
    return closes


def paper_book_read(*, venue: str, symbol: str) -> BookSide | None:
    """``venue``'s book of the spot ``symbol`` as the order-book watcher last published it: the levels of the
    consolidated snapshot at which ``venue`` quotes (a best-first prefix of its own book, to the published depth),
    or None when no snapshot is live or the venue is not in sync in it. The caller judges its age."""
    snapshot = orderbook_snapshot_get(symbol=symbol)
    if snapshot is None:
        return None
    try:
        states = {str(v["venue"]): str(v["state"]) for v in snapshot.get("venues", [])}
        if states.get(venue) != "live":
            return None
        bids = _venue_levels(snapshot.get("bids", []), venue)
        asks = _venue_levels(snapshot.get("asks", []), venue)
        time_ms = int(snapshot["time_ms"])
    except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError):
        return None  # not a snapshot this platform published: no book
    bid_prices, ask_prices = [p for p, _ in bids], [p for p, _ in asks]
    if bid_prices != sorted(set(bid_prices), reverse=True) or ask_prices != sorted(set(ask_prices)):
        return None  # levels out of order: not a book to fill against
    return BookSide(time_ms=time_ms, bids=bids, asks=asks)


def _venue_levels(levels: Sequence[Mapping[str, Any]], venue: str) -> tuple[tuple[Decimal, Decimal], ...]:
    found = []
    for level in levels:
        size = level.get("venues", {}).get(venue)
        if size is None:
            continue
        price, amount = Decimal(level["price"]), Decimal(size)
        if not (price.is_finite() and amount.is_finite() and price > 0):
            raise ValueError(f"level {level!r}")
        if amount > 0:
            found.append((price, amount))
    return tuple(found)


def paper_runs_running() -> list[int]:
    """The ids of the paper runs beat steps, oldest first."""
    return list(
        StrategyRun.objects.filter(mode=StrategyRun.Mode.PAPER, status=StrategyRun.Status.RUNNING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def paper_run_status(*, run_id: int) -> dict[str, Any]:
    """One paper run as the CLI and the API show it; raises ``StrategyRun.DoesNotExist``."""
    run = StrategyRun.objects.get(pk=run_id, mode=StrategyRun.Mode.PAPER)
    state = PaperState.parse(run.state or {})
    trades = run.ledger.filter(kind="trade").count()
    return {
        "id": run.pk,
        "strategy": run.strategy,
        "status": run.status,
        "markets": [f"{m['exchange']}:{m['symbol']}" for m in run.markets],
        "interval": run.interval,
        "parameters": run.parameters,
        "cash": str(run.cash),
        "numeraire": run.numeraire,
        "start_ms": run.start_ms,
        "last_event_ms": run.last_event_ms,
        "last_event": None if run.last_event_ms is None else utc_iso(utc_from_ms(run.last_event_ms)),
        "steps": state.steps,
        "trades": trades,
        "book_fills": state.book_fills,
        "waiting_orders": len(state.waiting),
        "refusals": run.refusals.count(),
        "halted": state.halted_reason if state.halted else "",
        "final_nav": None if run.final_nav is None else str(run.final_nav),
        "error": run.error,
    }
