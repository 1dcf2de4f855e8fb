"""A checked run of candles as PostgreSQL COPY text, made from a venue page without one :class:`Candle` per row.

The REST download's pace is set by what one Python process does with a page of 1,000 candles. Building a
``Candle`` per row, checking it at parse time and again at store time, then formatting it for COPY cost about
15 ms a page; Bybit allows 120 pages a second. :func:`candle_rows_fast` works on whole columns instead, with
C-speed primitives (``map``, ``str.join``, ``str.translate``, ``str.count``, ``float``), and proves the same
things the row-by-row path checks:

- open times strictly ascending and on the interval's grid;
- every price and volume plain decimal text (``\\d+(\\.\\d+)?``: what NUMERIC prints back byte for byte; so also
  finite and non-negative);
- ``low ≤ min(open, close)`` and ``max(open, close) ≤ high``, exactly: a strict float inequality implies the exact
  one (rounding decimal text to the nearest binary float never reverses an order); equal texts are equal; any
  other tie is decided by :meth:`Candle.validate` (Decimal).

When it cannot prove all of that it returns None, and the caller takes the row-by-row path
(:func:`candle_rows_from_candles`), which either builds the same rows or raises the precise error. So the fast
path never accepts what the slow one refuses, and never writes different text.

Line layout: ``open_time \\t open \\t high \\t low \\t close \\t volume \\t closed`` (``t``/``f``), newline-ended;
the store puts the instrument and interval in front of each line.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, islice, pairwise
from operator import ge, lt

from marketdata.core.candles import Candle, CandleError
from marketdata.core.intervals import Interval

# Plain decimal text only: PostgreSQL would accept '1E-8', ' 1' or '.5' but print them back differently, a tab or
# newline would break the COPY stream, and it refuses digits other than ASCII ones (which \d also matches).
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")
_PLAIN_OHLCV = re.compile("\n".join([r"[0-9]+(?:\.[0-9]+)?"] * 5) + r"\Z")  # one match per candle
# str.translate deleting every character a page of plain decimals and separators may hold: what is left is bad.
_PAGE_CHARACTERS = str.maketrans("", "", "0123456789.\t\n")
_FIELDS = 6  # open time, open, high, low, close, volume
# The kline table's columns in the order its COPY input gives them: the instrument and interval the store puts in
# front of each line, then the line.
KLINE_COLUMNS = "instrument_id, interval, open_time, open, high, low, close, volume, closed"


@dataclass(frozen=True, slots=True)
class CandleRows:
    """Candles of one interval, checked (see the module doc), as COPY text lines in ascending open time.

    Build it with :func:`candle_rows_fast`, :func:`candle_rows_from_candles` or :func:`candle_rows_join` only: the
    store trusts what it holds.
    """

    interval: str
    count: int
    first_ms: int  # open time of the first candle (0 when empty)
    last_ms: int  # open time of the last candle (0 when empty)
    text: str

    def __len__(self) -> int:
        return self.count

    def candles(self) -> list[Candle]:
        """The rows as :class:`Candle` objects (for live broadcasts; the download itself never needs them)."""
        out = []
        for line in self.text.splitlines():
            t, o, h, lo, c, v, closed = line.split("\t")
            out.append(Candle(int(t), o, h, lo, c, v, closed=closed == "t"))
        return out


def _empty(interval: Interval) -> CandleRows:
    return CandleRows(interval.code, 0, 0, 0, "")


def _text(lines: list[str], closed: int) -> str:
    """``lines`` (six fields each) with the closed flag: the first ``closed`` are closed, the rest still open."""
    text = "\tt\n".join(lines[:closed]) + "\tt\n" if closed else ""
    return text + "".join(line + "\tf\n" for line in lines[closed:])


def _closed_count(interval: Interval, times: Sequence[int], now_ms: int) -> int:
    """How many of the ascending ``times`` open a candle already closed at ``now_ms`` (closed ones come first)."""
    closed = len(times)
    while closed and interval.close_time(times[closed - 1]) > now_ms:
        closed -= 1
    return closed


def candle_rows_fast(
    interval: Interval,
    now_ms: int,
    times: Sequence[int],
    opens: Sequence[str],
    highs: Sequence[str],
    lows: Sequence[str],
    closes: Sequence[str],
    volumes: Sequence[str],
) -> CandleRows | None:
    """Columns of one page, oldest first (``times`` integer ms; the others the venue's text) → checked rows, or
    None when the cheap checks cannot prove every rule (the caller then takes the row-by-row path)."""
    n = len(times)
    if n == 0 or not n == len(opens) == len(highs) == len(lows) == len(closes) == len(volumes):
        return None
    first, step = times[0], interval.length_ms
    if set(map(type, times)) != {int} or not interval.is_aligned(first):  # (a float or a bool would compare equal)
        return None
    # Contiguous pages (the usual case) are one list comparison; a page with holes is checked time by time.
    contiguous = step is not None and list(times) == list(range(first, first + n * step, step))
    if not contiguous and not (all(map(lt, times, islice(times, 1, None))) and all(map(interval.is_aligned, times))):
        return None
    try:
        lines = list(map("\t".join, zip(map(str, times), opens, highs, lows, closes, volumes, strict=True)))
    except TypeError:  # a field that is not text
        return None
    page = "\n".join(lines)
    # Only digits, dots and the separators we put there (as many as we put: no field holds a tab or a newline) ...
    if page.translate(_PAGE_CHARACTERS) or page.count("\t") != (_FIELDS - 1) * n or page.count("\n") != n - 1:
        return None
    # ... no field starts or ends with a dot (the open time comes first on each line and is digits) ...
    if "\t." in page or ".\t" in page or ".\n" in page or page.endswith("."):
        return None
    # ... and float() takes each (so no field is empty or has two dots): each is \d+(\.\d+)? exactly.
    try:
        fo, fh, fl, fc = (list(map(float, column)) for column in (opens, highs, lows, closes))
        deque(map(float, volumes), maxlen=0)
    except ValueError:
        return None
    undecided: set[int] = set()
    for a, b, a_text, b_text in ((fl, fo, lows, opens), (fl, fc, lows, closes), (fo, fh, opens, highs),
                                 (fc, fh, closes, highs)):  # fmt: skip
        if not all(map(lt, a, b)):
            undecided.update(i for i in compress(range(n), map(ge, a, b)) if a_text[i] != b_text[i])
    for i in undecided:
        try:
            Candle(times[i], opens[i], highs[i], lows[i], closes[i], volumes[i]).validate()
        except CandleError:
            return None
    return CandleRows(interval.code, n, first, times[-1], _text(lines, _closed_count(interval, times, now_ms)))


def candle_rows_from_candles(candles: Iterable[Candle], interval: Interval) -> CandleRows:
    """Candles in any order → rows sorted by open time, each candle checked: on the grid, no two at one open time,
    plain decimal text, :meth:`Candle.validate`. Raises :class:`CandleError`."""
    rows = sorted(candles, key=lambda c: c.open_time)
    previous: int | None = None
    for candle in rows:
        if candle.open_time == previous:
            raise CandleError(f"two candles open at {candle.open_time}")
        previous = candle.open_time
        if not interval.is_aligned(candle.open_time):
            raise CandleError(f"candle at {candle.open_time} is not on the {interval.code} grid")
        texts = (candle.open, candle.high, candle.low, candle.close, candle.volume)
        if not (all(type(text) is str for text in texts) and _PLAIN_OHLCV.match("\n".join(texts))):
            bad = next(t for t in texts if not isinstance(t, str) or not _PLAIN_DECIMAL.match(t))
            raise CandleError(f"candle at {candle.open_time}: {bad!r} is not plain decimal text")
        candle.validate()
    if not rows:
        return _empty(interval)
    text = "".join(
        f"{c.open_time}\t{c.open}\t{c.high}\t{c.low}\t{c.close}\t{c.volume}\t{'t' if c.closed else 'f'}\n" for c in rows
    )
    return CandleRows(interval.code, len(rows), rows[0].open_time, rows[-1].open_time, text)


def candle_rows_join(parts: Sequence[CandleRows]) -> CandleRows:
    """Rows of one interval from several pages (in any order) as one run; pages that overlap raise
    :class:`CandleError` (two candles would share an open time)."""
    if not parts:
        raise ValueError("no rows to join")
    pages = sorted((p for p in parts if p.count), key=lambda p: p.first_ms)
    code = parts[0].interval
    if any(p.interval != code for p in parts):
        raise ValueError(f"rows of different intervals: {sorted({p.interval for p in parts})}")
    if not pages:
        return CandleRows(code, 0, 0, 0, "")
    for before, after in pairwise(pages):
        if after.first_ms <= before.last_ms:
            raise CandleError(f"pages overlap: one ends at {before.last_ms}, the next starts at {after.first_ms}")
    if len(pages) == 1:
        return pages[0]
    return CandleRows(
        code, sum(p.count for p in pages), pages[0].first_ms, pages[-1].last_ms, "".join(p.text for p in pages)
    )
