"""Reads of paper mode: the closed candles a batch of a paper run needs (the new ones and the warm-up before them),
how far every market of a run has closed, a venue's live book from the order-book registry, the running paper runs
and one run's status.

Times are integer milliseconds UTC. Candles come back as the stored decimal text (PostgreSQL NUMERIC without
typmod prints the scale it was given), only closed ones: the still-open candle the live sync keeps is never read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection

from hftplatform.core.utc import utc_from_ms, utc_iso
from orderbook.selectors import orderbook_snapshot_get
from strategies.core.paper import BookSide, PaperState
from strategies.models import StrategyRun

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
