"""What every venue core shares: the state machine around an :class:`L2Book`, and the book checksums venues publish.

A venue core turns one decoded websocket message into one :class:`~orderbook.l2.book.Action`: APPLIED (the book
may be published), IGNORED (not for this book, or no snapshot yet), or RESYNC with a reason (the book is dropped and
not handed out until the venue sends a new snapshot). A core is a :class:`BookSync` subclass that reads its
venue's message shape in :meth:`BookSync.handle` and ends each book message with :meth:`BookSync.snapshot_apply` or
:meth:`BookSync.update_apply`; the shared code then truncates to the subscribed depth, verifies the venue's checksum
(a :class:`ChecksumScheme`: which top levels, how they are written into a string, which CRC32 convention), refuses a
crossed book, and counts what happened.

Numbers are taken only in their plain wire form (``"0.00010"``, never ``"1e-4"``, ``" 1"`` or ``"NaN"``). Such a
string round-trips exactly through ``Decimal`` and ``format(value, "f")``, so a checksum over "the strings as sent"
can be computed from the book's decimals; anything else is a corrupted number and a resync.
"""

from __future__ import annotations

import re
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from hftplatform.core.decimal_text import decimal_text_keep_scale
from orderbook.l2.book import (
    APPLIED,
    Action,
    ActionKind,
    BookDataError,
    L2Book,
    Level,
    ResyncReason,
    Side,
    SyncCounters,
)


class BookFault(Exception):
    """Raised while reading a message; :meth:`BookSync.on_message` turns it into a resync."""

    def __init__(self, reason: ResyncReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class ChecksumCounters(SyncCounters):
    """:class:`SyncCounters` plus the venue checksums compared, and those a message should have had but did not."""

    checksums_verified: int = 0
    checksums_skipped: int = 0  # OKX sends 0 since it stopped computing them


class Crc32(Enum):
    """How a venue writes the CRC32 (zlib's, ISO 3309) of the checksum string."""

    SIGNED = "signed"  # two's complement 32-bit: OKX
    UNSIGNED = "unsigned"  # 0 .. 2**32 - 1: Kraken


def crc32(text: str, convention: Crc32) -> int:
    value = zlib.crc32(text.encode())
    if convention is Crc32.SIGNED and value >= 2**31:
        return value - 2**32
    return value


@dataclass(frozen=True)
class ChecksumScheme:
    """A venue's checksum: ``preimage(bids, asks)`` over the best ``depth`` levels of each side, best first.

    ``on_snapshots`` says whether the venue's snapshots carry one too (a message that should and does not is
    counted as skipped).
    """

    depth: int
    convention: Crc32
    preimage: Callable[[Sequence[Level], Sequence[Level]], str]
    on_snapshots: bool = True

    def text(self, book: L2Book) -> str:
        return self.preimage(book.levels(Side.BID, self.depth), book.levels(Side.ASK, self.depth))

    def checksum(self, book: L2Book) -> int:
        return crc32(self.text(book), self.convention)


_WIRE_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


def wire_decimal(text: object, *, what: str) -> Decimal:
    """A number as venues write it: digits, optionally a point and digits, no sign, exponent or redundant zero."""
    if not isinstance(text, str) or not _WIRE_DECIMAL.fullmatch(text):
        raise BookFault(ResyncReason.BAD_NUMBER, f"{what} is not a plain decimal string: {text!r}")
    return Decimal(text)


# The wire string a wire_decimal value was read from (trailing zeros included): the scale-keeping decimal text
# (an alias, not a wrapper: checksums call it for every level of every update).
wire_text = decimal_text_keep_scale


def wire_levels(raw: object, *, what: str) -> list[tuple[Decimal, Decimal]]:
    """``[[price, size, ...], ...]`` read whole before the book is touched; a zero size means "remove"."""
    if not isinstance(raw, list):
        raise BookFault(ResyncReason.MALFORMED, f"{what} is not a list: {raw!r}")
    levels = []
    for entry in raw:
        if not isinstance(entry, list) or len(entry) < 2:
            raise BookFault(ResyncReason.MALFORMED, f"{what} entry is not [price, size, ...]: {entry!r}")
        price = wire_decimal(entry[0], what=f"{what} price")
        if price == 0:
            raise BookFault(ResyncReason.BAD_NUMBER, f"{what} price must be positive: {entry[0]!r}")
        levels.append((price, wire_decimal(entry[1], what=f"{what} size")))
    return levels


class BookSync(ABC):
    """One market's book kept in step with a venue's feed; subclasses read the venue's messages in :meth:`handle`.

    ``depth`` is the subscribed depth the venue maintains (levels beyond it are dropped after every message, as venues
    that publish N levels do not send removals for levels pushed out of range); ``None`` keeps every level.
    RESYNC here always means "resubscribe": these venues send their snapshots on the stream itself.
    """

    def __init__(self, *, scheme: ChecksumScheme | None, depth: int | None) -> None:
        self.scheme = scheme
        self.depth = depth
        self.counters = ChecksumCounters()
        self._book = L2Book()
        self._synced = False

    @property
    def synced(self) -> bool:
        return self._synced

    @property
    def book(self) -> L2Book | None:
        """The book while in sync, else None: a book that is being rebuilt is never handed out."""
        return self._book if self._synced else None

    def on_message(self, msg: object) -> Action:
        """A decoded websocket message; anything that is not this market's book is IGNORED."""
        try:
            action = self.handle(msg)
        except BookFault as fault:
            action = self.resync(fault.reason, fault.detail)
        except BookDataError as error:
            action = self.resync(ResyncReason.BAD_NUMBER, str(error))
        if action.kind is ActionKind.IGNORED:
            self.counters.ignored += 1
        return action

    @abstractmethod
    def handle(self, msg: object) -> Action:
        """Read one decoded message; end a book message with :meth:`snapshot_apply` or :meth:`update_apply`."""

    def snapshot_apply(
        self,
        bids: Sequence[tuple[Decimal, Decimal]],
        asks: Sequence[tuple[Decimal, Decimal]],
        *,
        checksum: int | None,
    ) -> Action:
        self._book.clear()
        self._synced = True
        action = self._levels_apply(bids, asks, checksum, snapshot=True)
        if action.kind is ActionKind.APPLIED:
            self.counters.snapshots_applied += 1
        else:
            self.counters.snapshots_rejected += 1
        return action

    def update_apply(
        self,
        bids: Sequence[tuple[Decimal, Decimal]],
        asks: Sequence[tuple[Decimal, Decimal]],
        *,
        checksum: int | None,
    ) -> Action:
        if not self._synced:
            return Action.ignored("update before a snapshot")
        action = self._levels_apply(bids, asks, checksum, snapshot=False)
        if action.kind is ActionKind.APPLIED:
            self.counters.applied += 1
        return action

    def resync(self, reason: ResyncReason, detail: str) -> Action:
        """Drop the book; nothing is published until the venue's next snapshot."""
        self._book.clear()
        self._synced = False
        self.counters.resyncs[reason] += 1
        return Action.resync(reason, detail)

    def _levels_apply(
        self,
        bids: Sequence[tuple[Decimal, Decimal]],
        asks: Sequence[tuple[Decimal, Decimal]],
        checksum: int | None,
        *,
        snapshot: bool,
    ) -> Action:
        for side, levels in ((Side.BID, bids), (Side.ASK, asks)):
            for price, size in levels:
                self._book.apply(side, price, size)
        if self.depth is not None:
            self._book.truncate(self.depth)
        # The checksum goes first: a missed message often crosses the book too, and the mismatch names the cause.
        if self.scheme is not None and checksum is not None:
            computed = self.scheme.checksum(self._book)
            if computed != checksum:
                return self.resync(ResyncReason.CHECKSUM_MISMATCH, f"venue checksum {checksum}, book gives {computed}")
            self.counters.checksums_verified += 1
        elif self.scheme is not None and (self.scheme.on_snapshots or not snapshot):
            self.counters.checksums_skipped += 1
        if self._book.is_crossed():
            return self.resync(
                ResyncReason.CROSSED_BOOK, f"best bid {self._book.best_bid()} >= best ask {self._book.best_ask()}"
            )
        return APPLIED
