"""Binance spot: one symbol's book from the diff-depth stream (``<symbol>@depth``) and REST depth snapshots.

Binance's documented procedure, as a state machine the connector drives:

1. Buffer ``depthUpdate`` events (``U`` first update id, ``u`` final update id, ``b``/``a`` levels). The first one
   answers NEED_SNAPSHOT: fetch ``GET /api/v3/depth?symbol=...`` and hand the payload to :meth:`on_snapshot_payload`.
2. A snapshot whose ``lastUpdateId`` is below the first buffered ``U`` is too old (the updates between them are lost
   to us): it is refused with NEED_SNAPSHOT, and the buffer is kept. Binance's rule is conservative by one id
   (``lastUpdateId == U - 1`` would bridge); we follow it as written.
3. Otherwise the book becomes the snapshot, buffered events with ``u <= lastUpdateId`` are dropped, and the first
   event applied must satisfy ``U <= lastUpdateId + 1 <= u``.
4. From then on every event must start where the previous one ended (``U == previous u + 1``). Anything else is a
   gap: the book is dropped (RESYNC), the offending event starts a new buffer, and the caller fetches a new snapshot.

Events with ``u`` at or below the book's id are stale or duplicates and are dropped without touching the book. Sizes
are absolute; a size of zero removes the level (a removal of a level we do not hold is normal: snapshots are cut at
their ``limit``). A malformed event or a book crossed after an event is a RESYNC too: the book is never published in
a state Binance could not have had. RESYNC always means "fetch a new snapshot"; the stream itself stays open.

Pure: no Django, no network. Prices and sizes are exact ``Decimal``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from orderbook.l2.book import (
    APPLIED,
    BUFFERED,
    DROPPED_STALE,
    Action,
    ActionKind,
    BookDataError,
    L2Book,
    ResyncReason,
    Side,
    SyncCounters,
    decimal_parse,
)

WireLevel = tuple[Decimal, Decimal]  # (price, size); size 0 removes


class BinanceMessageError(BookDataError):
    """A depth event or snapshot that is not in Binance's shape (as opposed to a bad number in it)."""


@dataclass(frozen=True, slots=True)
class DepthUpdate:
    symbol: str
    first_update_id: int  # U
    final_update_id: int  # u
    bids: tuple[WireLevel, ...]
    asks: tuple[WireLevel, ...]


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    last_update_id: int
    bids: tuple[WireLevel, ...]
    asks: tuple[WireLevel, ...]


def _update_id(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BinanceMessageError(f"{key} is not a non-negative integer: {value!r}")
    return value


def _levels(raw: object, *, what: str) -> tuple[WireLevel, ...]:
    """``[[price, size], ...]`` as decimal strings, read whole before any book is touched."""
    if not isinstance(raw, list):
        raise BinanceMessageError(f"{what} is not a list of levels: {raw!r}")
    levels = []
    for entry in raw:
        # Binance's early API appended an ignored third element; only price and size count.
        if not isinstance(entry, list) or len(entry) < 2:
            raise BinanceMessageError(f"{what} level is not [price, size]: {entry!r}")
        price, size = entry[0], entry[1]
        if not isinstance(price, str) or not isinstance(size, str):
            raise BookDataError(f"{what} level must hold decimal strings: {entry!r}")
        price_value = decimal_parse(price, what=f"{what} price")
        if price_value == 0:
            raise BookDataError(f"{what} price must be positive: {price!r}")
        levels.append((price_value, decimal_parse(size, what=f"{what} size")))
    return tuple(levels)


def depth_event_data(message: object) -> Mapping[str, object] | None:
    """The ``depthUpdate`` payload of a raw or combined-stream message; None for any other stream."""
    if isinstance(message, Mapping) and "stream" in message and "data" in message:
        message = message["data"]
    if not isinstance(message, Mapping) or message.get("e") != "depthUpdate":
        return None
    return message


def depth_update_parse(message: object) -> DepthUpdate | None:
    """A diff-depth event, raw or wrapped as ``{"stream": ..., "data": {...}}``; None for other streams.

    Raises :class:`BookDataError` (or its :class:`BinanceMessageError`) for a depth event that cannot be applied.
    """
    data = depth_event_data(message)
    if data is None:
        return None
    symbol = data.get("s")
    if not isinstance(symbol, str) or not symbol:
        raise BinanceMessageError(f"s is not a symbol: {symbol!r}")
    first, final = _update_id(data, "U"), _update_id(data, "u")
    if first > final:
        raise BinanceMessageError(f"U {first} is after u {final}")
    return DepthUpdate(symbol, first, final, _levels(data.get("b"), what="b"), _levels(data.get("a"), what="a"))


def depth_snapshot_parse(payload: object) -> DepthSnapshot:
    """The ``GET /api/v3/depth`` response: ``{"lastUpdateId", "bids", "asks"}``."""
    if not isinstance(payload, Mapping):
        raise BinanceMessageError(f"depth snapshot is not an object: {payload!r}")
    return DepthSnapshot(
        _update_id(payload, "lastUpdateId"),
        _levels(payload.get("bids"), what="bids"),
        _levels(payload.get("asks"), what="asks"),
    )


def _reason_for(error: BookDataError) -> ResyncReason:
    return ResyncReason.MALFORMED if isinstance(error, BinanceMessageError) else ResyncReason.BAD_NUMBER


class BinanceBookSync:
    """One symbol's local book, kept by Binance's diff-depth procedure; see the module docstring.

    ``max_buffered`` bounds the buffer while no snapshot has arrived; the oldest events go first, which only makes
    the next snapshot's freshness check stricter.
    """

    def __init__(self, symbol: str, *, max_buffered: int = 10_000) -> None:
        self.symbol = symbol.upper()
        self.counters = SyncCounters()
        self._book = L2Book()
        self._buffer: deque[DepthUpdate] = deque(maxlen=max_buffered)
        self._last_update_id: int | None = None  # None: not in sync, events are buffered
        self._bridged = False  # an event has been applied on top of the current snapshot
        self._snapshot_asked = False

    @property
    def synced(self) -> bool:
        return self._last_update_id is not None

    @property
    def book(self) -> L2Book | None:
        """The book while in sync, else None: a book that is being rebuilt is never handed out."""
        return self._book if self.synced else None

    @property
    def last_update_id(self) -> int | None:
        """The id the book is at (the snapshot's, then each applied event's ``u``); None while not in sync."""
        return self._last_update_id

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def on_message(self, message: object) -> Action:
        """A raw websocket message: depth events of this symbol are processed, everything else is IGNORED."""
        data = depth_event_data(message)
        if data is None or data.get("s") != self.symbol:
            self.counters.ignored += 1
            return Action.ignored("not this symbol's depthUpdate")
        try:
            update = depth_update_parse(data)
        except BookDataError as error:
            return self._resync(_reason_for(error), str(error))
        assert update is not None
        return self.on_event(update)

    def on_event(self, update: DepthUpdate) -> Action:
        if update.symbol != self.symbol:
            raise ValueError(f"a {update.symbol} event was given to the {self.symbol} book")
        if self._last_update_id is None:
            return self._buffer_add(update)
        return self._apply(update)

    def on_snapshot_payload(self, payload: object) -> Action:
        """A REST depth response; one that cannot be read is refused like a stale one (fetch another)."""
        try:
            snapshot = depth_snapshot_parse(payload)
        except BookDataError as error:
            self.counters.snapshots_rejected += 1
            return Action.need_snapshot(_reason_for(error), str(error))
        return self.on_snapshot(snapshot)

    def on_snapshot(self, snapshot: DepthSnapshot) -> Action:
        if self._last_update_id is not None:
            # A second fetch that raced the first: the stream already keeps the book current.
            self.counters.snapshots_rejected += 1
            return Action(ActionKind.DROPPED_STALE, None, "already in sync")
        first_buffered = self._buffer[0].first_update_id if self._buffer else None
        if first_buffered is not None and snapshot.last_update_id < first_buffered:
            self.counters.snapshots_rejected += 1
            return Action.need_snapshot(
                ResyncReason.SNAPSHOT_TOO_OLD,
                f"lastUpdateId {snapshot.last_update_id} is before the first buffered U {first_buffered}",
            )
        self._book.clear()
        self._levels_apply(snapshot.bids, snapshot.asks)
        if self._book.is_crossed():
            self._book.clear()
            self.counters.snapshots_rejected += 1
            return Action.need_snapshot(ResyncReason.CROSSED_BOOK, f"snapshot {snapshot.last_update_id} is crossed")
        self.counters.snapshots_applied += 1
        self._last_update_id = snapshot.last_update_id
        self._bridged = False
        self._snapshot_asked = False
        pending = list(self._buffer)
        self._buffer.clear()
        for index, update in enumerate(pending):
            action = self._apply(update)
            if action.kind is ActionKind.RESYNC:
                # What followed the failed event is still a contiguous stream: keep it for the next snapshot.
                self._buffer.extend(pending[index + 1 :])
                return action
        return APPLIED

    def _buffer_add(self, update: DepthUpdate) -> Action:
        if self._buffer and update.final_update_id <= self._buffer[-1].final_update_id:
            self.counters.dropped_stale += 1
            return DROPPED_STALE
        if self._buffer and update.first_update_id != self._buffer[-1].final_update_id + 1:
            # A gap inside the buffer: nothing before it can be bridged any more, so the snapshot must be newer.
            self._buffer.clear()
        self._buffer.append(update)
        self.counters.buffered += 1
        if not self._snapshot_asked:
            self._snapshot_asked = True
            return Action.need_snapshot(None, f"first buffered U {update.first_update_id}")
        return BUFFERED

    def _apply(self, update: DepthUpdate) -> Action:
        last = self._last_update_id
        assert last is not None
        if update.final_update_id <= last:
            self.counters.dropped_stale += 1
            return DROPPED_STALE
        if not self._bridged and update.first_update_id > last + 1:
            return self._resync(
                ResyncReason.SNAPSHOT_TOO_OLD,
                f"first event U {update.first_update_id} does not bridge lastUpdateId {last}",
                keep=update,
            )
        if self._bridged and update.first_update_id != last + 1:
            return self._resync(
                ResyncReason.SEQUENCE_GAP, f"U {update.first_update_id} does not follow u {last}", keep=update
            )
        self._levels_apply(update.bids, update.asks)
        if self._book.is_crossed():
            return self._resync(ResyncReason.CROSSED_BOOK, f"book crossed after u {update.final_update_id}")
        self._last_update_id = update.final_update_id
        self._bridged = True
        self.counters.applied += 1
        return APPLIED

    def _levels_apply(self, bids: Sequence[WireLevel], asks: Sequence[WireLevel]) -> None:
        for price, size in bids:
            self._book.apply(Side.BID, price, size)
        for price, size in asks:
            self._book.apply(Side.ASK, price, size)

    def _resync(self, reason: ResyncReason, detail: str, *, keep: DepthUpdate | None = None) -> Action:
        """Drop the book; ``keep`` (a well-formed event that revealed a gap) starts the new buffer."""
        self._book.clear()
        self._last_update_id = None
        self._bridged = False
        self._buffer.clear()
        if keep is not None:
            self._buffer.append(keep)
            self.counters.buffered += 1
        self._snapshot_asked = True
        self.counters.resyncs[reason] += 1
        return Action.resync(reason, detail)
