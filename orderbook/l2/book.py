"""An exact L2 order book: price levels with aggregate sizes, per side, prices and sizes as ``Decimal``.

Venues send decimal strings; they are parsed once into ``Decimal`` (which keeps their exact value) and a size
of zero removes the level, as every venue's L2 protocol means it. The book never guesses: a crossed book is
reported by :meth:`L2Book.is_crossed` so a mirror can resync instead of publishing it.

A venue's sync core answers every message with an :class:`Action` (what the caller must do next) and counts what
happened in :class:`SyncCounters`, so the connectors that drive the cores share one loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import IntEnum, StrEnum

from sortedcontainers import SortedDict


class Side(IntEnum):
    BID = 0
    ASK = 1


class BookDataError(ValueError):
    """A price or size that is not a finite, non-negative decimal (a price must also be positive)."""


def decimal_parse(text: str | int | Decimal, *, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        raise BookDataError(f"{what} is not a decimal number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise BookDataError(f"{what} must be a finite, non-negative decimal, got {text!r}")
    return value


Level = tuple[Decimal, Decimal]  # (price, size)


class L2Book:
    """Both sides of one market's book. Bids are kept keyed by negated price so both sides iterate best-first."""

    def __init__(self) -> None:
        self._sides: tuple[SortedDict, SortedDict] = (SortedDict(), SortedDict())

    def clear(self) -> None:
        for levels in self._sides:
            levels.clear()

    def apply(self, side: Side, price: str | Decimal, size: str | Decimal) -> None:
        """Set the aggregate size at ``price``; a size of zero removes the level (absent: nothing to do)."""
        price_value = decimal_parse(price, what="price")
        if price_value == 0:
            raise BookDataError(f"price must be positive, got {price!r}")
        size_value = decimal_parse(size, what="size")
        key = -price_value if side == Side.BID else price_value
        levels = self._sides[side]
        if size_value == 0:
            levels.pop(key, None)
        else:
            levels[key] = (price_value, size_value)

    def apply_many(self, side: Side, levels: Iterable[tuple[str, str]]) -> None:
        for price, size in levels:
            self.apply(side, price, size)

    def best(self, side: Side) -> Level | None:
        levels = self._sides[side]
        if not levels:
            return None
        level: Level = levels.peekitem(0)[1]
        return level

    def best_bid(self) -> Level | None:
        return self.best(Side.BID)

    def best_ask(self) -> Level | None:
        return self.best(Side.ASK)

    def levels(self, side: Side, depth: int | None = None) -> list[Level]:
        """The side's levels, best first; at most ``depth`` of them."""
        values = self._sides[side].values()
        if depth is None:
            return list(values)
        return [values[index] for index in range(min(depth, len(values)))]

    def truncate(self, depth: int) -> None:
        """Keep only the best ``depth`` levels of each side (venues that publish N levels mean exactly that)."""
        for levels in self._sides:
            while len(levels) > depth:
                levels.popitem(-1)

    def size(self, side: Side, price: str | Decimal) -> Decimal | None:
        """The aggregate size resting at ``price``, or None if the side has no level there."""
        price_value = decimal_parse(price, what="price")
        level: Level | None = self._sides[side].get(-price_value if side == Side.BID else price_value)
        return None if level is None else level[1]

    def depth(self, side: Side) -> int:
        return len(self._sides[side])

    def is_crossed(self) -> bool:
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid[0] >= ask[0]


class ActionKind(StrEnum):
    APPLIED = "applied"  # the book changed and is in sync: publishable
    IGNORED = "ignored"  # not a book message for this market
    RESYNC = "resync"  # the book was dropped: get a new snapshot and publish nothing meanwhile
    NEED_SNAPSHOT = "need_snapshot"  # fetch a snapshot (REST) or resubscribe for one (websocket snapshots)
    BUFFERED = "buffered"  # kept until a snapshot arrives; nothing publishable yet
    DROPPED_STALE = "dropped_stale"  # already covered by the book (stale or duplicate): dropped, book unchanged


class ResyncReason(StrEnum):
    """Why a book was dropped (RESYNC) or a snapshot refused (NEED_SNAPSHOT)."""

    CHECKSUM_MISMATCH = "checksum_mismatch"
    SEQUENCE_GAP = "sequence_gap"
    SNAPSHOT_TOO_OLD = "snapshot_too_old"  # the stream has already moved past what the snapshot can bridge
    OUT_OF_ORDER = "out_of_order"  # an update older than one already applied
    UNKNOWN_LEVEL = "unknown_level"  # a full-depth feed removed a level the book does not hold: a missed update
    CROSSED_BOOK = "crossed_book"
    BAD_NUMBER = "bad_number"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    reason: ResyncReason | None = None
    detail: str = ""

    @classmethod
    def resync(cls, reason: ResyncReason, detail: str) -> Action:
        return cls(ActionKind.RESYNC, reason, detail)

    @classmethod
    def need_snapshot(cls, reason: ResyncReason | None, detail: str) -> Action:
        return cls(ActionKind.NEED_SNAPSHOT, reason, detail)

    @classmethod
    def ignored(cls, detail: str) -> Action:
        return cls(ActionKind.IGNORED, None, detail)


APPLIED = Action(ActionKind.APPLIED)
BUFFERED = Action(ActionKind.BUFFERED)
DROPPED_STALE = Action(ActionKind.DROPPED_STALE)


@dataclass(slots=True)
class SyncCounters:
    """One market's counts since its sync core was created: updates by fate, snapshots taken and refused, resyncs."""

    applied: int = 0
    buffered: int = 0
    dropped_stale: int = 0
    ignored: int = 0
    snapshots_applied: int = 0
    snapshots_rejected: int = 0
    resyncs: Counter[ResyncReason] = field(default_factory=Counter)
