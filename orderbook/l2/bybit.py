"""Bybit v5 public ``orderbook.{depth}.{symbol}`` topic (spot, linear, inverse, option).

A push is ``{"topic", "type": "snapshot"|"delta", "ts", "data": {"s", "b", "a", "u", "seq"}, "cts"}`` with levels
``[price, size]``; a size of ``"0"`` removes the level. Bybit publishes no checksum, so the update id is the check:

* a snapshot always replaces the book (Bybit re-sends one after a problem on its side, and every 3 s for depth 1
  while nothing changes, with the same ``u``); ``u == 1`` is the snapshot after a service restart;
* a delta's ``u`` must be the previous message's ``u`` plus one, anything else is a gap and a resync.

``seq`` is the cross sequence: kept for the caller, not checked (Bybit documents no continuity for it). The book is
cut to the subscribed depth after every message, the window Bybit maintains.
"""

from __future__ import annotations

from orderbook.l2.book import Action, ResyncReason
from orderbook.l2.checksum import BookFault, BookSync, wire_levels

DEPTHS = frozenset({1, 25, 50, 100, 200, 1000})  # 1/50/200/1000 spot and futures, 25/100 options


def _int_read(data: dict[str, object], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BookFault(ResyncReason.MALFORMED, f"data.{key} is not an integer: {value!r}")
    return value


class BybitBookSync(BookSync):
    """One symbol's book from ``orderbook.{depth}.{symbol}``."""

    def __init__(self, symbol: str, *, depth: int) -> None:
        if depth not in DEPTHS:
            raise ValueError(f"Bybit order book depth must be one of {sorted(DEPTHS)}, got {depth}")
        super().__init__(scheme=None, depth=depth)
        self.symbol = symbol
        self.topic = f"orderbook.{depth}.{symbol}"
        self.update_id: int | None = None
        self.seq: int | None = None
        self.restarts = 0

    def handle(self, msg: object) -> Action:
        if not isinstance(msg, dict) or msg.get("topic") != self.topic:
            return Action.ignored("not this topic")
        kind, data = msg.get("type"), msg.get("data")
        if kind not in ("snapshot", "delta"):
            raise BookFault(ResyncReason.MALFORMED, f"type is neither snapshot nor delta: {kind!r}")
        if not isinstance(data, dict) or data.get("s") != self.symbol:
            raise BookFault(ResyncReason.MALFORMED, f"data is not this symbol's book: {data!r}")
        bids = wire_levels(data.get("b"), what="b")
        asks = wire_levels(data.get("a"), what="a")
        update_id, seq = _int_read(data, "u"), _int_read(data, "seq")
        if kind == "snapshot":
            if update_id == 1:
                self.restarts += 1
            self.update_id, self.seq = update_id, seq
            return self.snapshot_apply(bids, asks, checksum=None)
        if not self.synced:
            return self.update_apply(bids, asks, checksum=None)
        assert self.update_id is not None
        if update_id != self.update_id + 1:
            return self.resync(ResyncReason.SEQUENCE_GAP, f"delta u {update_id} does not follow u {self.update_id}")
        self.update_id, self.seq = update_id, seq
        return self.update_apply(bids, asks, checksum=None)
