"""Kraken websocket v1 ``book`` channel.

Messages are arrays ``[channelID, {...}, ..., "book-<depth>", "<pair>"]``: one snapshot object ``{"as", "bs"}``, or
one or two update objects ``{"a"}`` / ``{"b"}`` (each optionally with the checksum ``"c"``, in the last one). Levels
are ``[price, volume, timestamp]`` plus ``"r"`` when a level is republished (it is applied like any other update).
Updates are applied in array order, asks then bids, and the book is then cut to the subscribed depth: Kraken does
not send removals for levels pushed out of range. (The v1 reference lists the pair before the channel name; the
wire, its own example and the capture all put the channel name second to last.)

Checksum (updates only; snapshots carry none): the best 10 asks from low to high, then the best 10 bids from high
to low, each as price then volume with the decimal point removed and leading zeros stripped, all concatenated;
CRC32 as an unsigned 32-bit integer, sent as a decimal string.
"""

from __future__ import annotations

from collections.abc import Sequence

from orderbook.l2.book import Action, Level, ResyncReason
from orderbook.l2.checksum import BookFault, BookSync, ChecksumScheme, Crc32, wire_levels, wire_text

DEPTHS = frozenset({10, 25, 100, 500, 1000})


def kraken_preimage(bids: Sequence[Level], asks: Sequence[Level]) -> str:
    return "".join(_level_digits(level) for level in (*asks, *bids))


def _level_digits(level: Level) -> str:
    price, volume = level
    return wire_text(price).replace(".", "").lstrip("0") + wire_text(volume).replace(".", "").lstrip("0")


KRAKEN_CHECKSUM = ChecksumScheme(depth=10, convention=Crc32.UNSIGNED, preimage=kraken_preimage, on_snapshots=False)


def _checksum_read(text: object) -> int:
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or int(text) >= 2**32:
        raise BookFault(ResyncReason.MALFORMED, f"checksum is not an unsigned 32-bit decimal string: {text!r}")
    return int(text)


class KrakenBookSync(BookSync):
    """One pair's book from a ``book`` subscription at ``depth`` levels a side."""

    def __init__(self, pair: str, *, depth: int) -> None:
        if depth not in DEPTHS:
            raise ValueError(f"Kraken book depth must be one of {sorted(DEPTHS)}, got {depth}")
        super().__init__(scheme=KRAKEN_CHECKSUM, depth=depth)
        self.pair = pair
        self.channel_name = f"book-{depth}"

    def handle(self, msg: object) -> Action:
        if not isinstance(msg, list) or len(msg) < 4 or msg[-1] != self.pair or msg[-2] != self.channel_name:
            return Action.ignored("not this pair's book")
        parts = msg[1:-2]
        if not all(isinstance(part, dict) for part in parts):
            raise BookFault(ResyncReason.MALFORMED, f"book payload is not objects: {parts!r}")
        if len(parts) == 1 and parts[0] and set(parts[0]) <= {"as", "bs"}:
            snapshot = parts[0]
            return self.snapshot_apply(
                wire_levels(snapshot.get("bs", []), what="bs"),
                wire_levels(snapshot.get("as", []), what="as"),
                checksum=None,
            )
        checksum: int | None = None
        for part in parts:
            if not part or not set(part) <= {"a", "b", "c"}:
                raise BookFault(ResyncReason.MALFORMED, f"unknown book update keys: {sorted(part)}")
            if "c" in part:
                checksum = _checksum_read(part["c"])
        if checksum is None:
            raise BookFault(ResyncReason.MALFORMED, "update without a checksum")
        asks = [level for part in parts for level in wire_levels(part.get("a", []), what="a")]
        bids = [level for part in parts for level in wire_levels(part.get("b", []), what="b")]
        return self.update_apply(bids, asks, checksum=checksum)
