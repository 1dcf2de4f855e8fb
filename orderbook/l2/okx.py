"""OKX v5 ``books`` channel (also ``books-l2-tbt`` and ``books50-l2-tbt``, which share its format and checksum).

A push is ``{"arg": {"channel", "instId"}, "action": "snapshot"|"update", "data": [{"bids", "asks", "ts",
"checksum", "seqId", "prevSeqId"}]}`` with levels ``[price, size, liquidated_orders (deprecated), orders]``.

Checksum: the best 25 bids and asks interleaved, ``bid1_price:bid1_size:ask1_price:ask1_size:bid2...`` (a side that
runs out simply stops contributing), with prices and sizes exactly as sent, CRC32 as a signed 32-bit integer.
OKX deprecated it from 23 June 2026 (the field stays but is always ``0`` and "must no longer be used"), so ``0``
or a missing field is counted as skipped rather than verified; ``seqId``/``prevSeqId`` continuity is then the check.

Sequence: a snapshot's ``prevSeqId`` is ``-1``; every later push carries ``prevSeqId`` equal to the previous push's
``seqId``. That one rule also covers OKX's keep-alive push (empty sides, ``seqId == prevSeqId``) and a sequence
reset after maintenance (``seqId`` smaller than ``prevSeqId``). Older feeds (the 2022 capture) carry no ids at all;
a book whose snapshot had none is checked by its checksum alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from orderbook.l2.book import Action, Level, ResyncReason
from orderbook.l2.checksum import BookFault, BookSync, ChecksumScheme, Crc32, wire_levels, wire_text

CHANNELS = frozenset({"books", "books-l2-tbt", "books50-l2-tbt"})


def okx_preimage(bids: Sequence[Level], asks: Sequence[Level]) -> str:
    parts: list[str] = []
    for index in range(max(len(bids), len(asks))):
        for levels in (bids, asks):
            if index < len(levels):
                price, size = levels[index]
                parts += (wire_text(price), wire_text(size))
    return ":".join(parts)


OKX_CHECKSUM = ChecksumScheme(depth=25, convention=Crc32.SIGNED, preimage=okx_preimage)


def _optional_int(data: dict[str, object], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BookFault(ResyncReason.MALFORMED, f"{key} is not an integer: {value!r}")
    return value


class OkxBookSync(BookSync):
    """One instrument's book from one OKX order book channel."""

    def __init__(self, inst_id: str, *, channel: str = "books") -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown OKX order book channel {channel!r}")
        super().__init__(scheme=OKX_CHECKSUM, depth=None)
        self.inst_id = inst_id
        self.channel = channel
        self.seq_id: int | None = None

    def handle(self, msg: object) -> Action:
        if not isinstance(msg, dict) or "event" in msg:
            return Action.ignored("not a push")
        arg = msg.get("arg")
        if not isinstance(arg, dict) or arg.get("channel") != self.channel or arg.get("instId") != self.inst_id:
            return Action.ignored("another channel or instrument")
        action, data = msg.get("action"), msg.get("data")
        if action not in ("snapshot", "update"):
            raise BookFault(ResyncReason.MALFORMED, f"action is neither snapshot nor update: {action!r}")
        if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
            raise BookFault(ResyncReason.MALFORMED, f"data is not one book object: {data!r}")
        book: dict[str, object] = data[0]
        bids = wire_levels(book.get("bids"), what="bids")
        asks = wire_levels(book.get("asks"), what="asks")
        checksum = _optional_int(book, "checksum") or None  # 0: OKX no longer computes it
        seq_id, prev_seq_id = _optional_int(book, "seqId"), _optional_int(book, "prevSeqId")
        if action == "snapshot":
            self.seq_id = seq_id
            return self.snapshot_apply(bids, asks, checksum=checksum)
        if not self.synced:
            return self.update_apply(bids, asks, checksum=checksum)
        if self.seq_id is not None:
            if seq_id is None or prev_seq_id != self.seq_id:
                return self.resync(
                    ResyncReason.SEQUENCE_GAP, f"prevSeqId {prev_seq_id} does not follow seqId {self.seq_id}"
                )
            self.seq_id = seq_id
        return self.update_apply(bids, asks, checksum=checksum)
