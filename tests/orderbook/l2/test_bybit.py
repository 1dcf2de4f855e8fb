"""Bybit v5 ``orderbook.{depth}.{symbol}`` on pushes in the documented shape (no capture of Bybit exists).

The snapshot below is the documentation's example (``orderbook.50.BTCUSDT``, ``u`` 13079592, ``seq`` 22520573250)
cut to three levels a side; the continuity rule is the update id ``u``: every delta is the previous ``u`` plus one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from orderbook.l2.book import APPLIED, Action, ActionKind, ResyncReason, Side
from orderbook.l2.bybit import BybitBookSync
from orderbook.l2.checksum import ChecksumCounters

TOPIC = "orderbook.50.BTCUSDT"
U = 13079592
SEQ = 22520573250


def _push(kind: str, bids: list[list[str]], asks: list[list[str]], *, u: int, seq: int, topic: str = TOPIC) -> Any:
    return {
        "topic": topic,
        "type": kind,
        "ts": 1671179923028,
        "data": {"s": topic.rsplit(".", 1)[1], "b": bids, "a": asks, "u": u, "seq": seq},
        "cts": 1671179923024,
    }


SNAPSHOT = _push(
    "snapshot",
    [["17440.00", "40.833"], ["17439.50", "0.513"], ["17439.00", "1.000"]],
    [["17440.50", "78.815"], ["17441.00", "8.858"], ["17441.50", "2.000"]],
    u=U,
    seq=SEQ,
)


def _levels(sync: BybitBookSync, side: Side) -> list[tuple[str, str]]:
    assert sync.book is not None
    return [(format(price, "f"), format(size, "f")) for price, size in sync.book.levels(side)]


def _synced(depth: int = 50) -> BybitBookSync:
    sync = BybitBookSync("BTCUSDT", depth=depth)
    assert sync.on_message(SNAPSHOT if depth == 50 else SNAPSHOT | {"topic": f"orderbook.{depth}.BTCUSDT"}) == APPLIED
    return sync


def test_a_snapshot_then_contiguous_deltas_are_applied() -> None:
    sync = _synced()
    # the documentation's delta: the best ask's size changes, and a level is inserted
    first = _push("delta", [], [["17440.50", "78.857"], ["17442.00", "1.510"]], u=U + 1, seq=SEQ + 7)
    second = _push("delta", [["17439.50", "0"], ["17440.00", "41"]], [], u=U + 2, seq=SEQ + 9)

    assert [sync.on_message(first), sync.on_message(second)] == [APPLIED, APPLIED]

    assert _levels(sync, Side.BID) == [("17440.00", "41"), ("17439.00", "1.000")]
    assert _levels(sync, Side.ASK) == [
        ("17440.50", "78.857"),
        ("17441.00", "8.858"),
        ("17441.50", "2.000"),
        ("17442.00", "1.510"),
    ]
    assert (sync.update_id, sync.seq) == (U + 2, SEQ + 9)
    assert sync.counters == ChecksumCounters(snapshots_applied=1, applied=2)


def test_a_dropped_delta_is_a_gap_on_the_very_next_message() -> None:
    sync = _synced()

    action = sync.on_message(_push("delta", [["17440.00", "1"]], [], u=U + 2, seq=SEQ + 9))

    assert action == Action.resync(ResyncReason.SEQUENCE_GAP, f"delta u {U + 2} does not follow u {U}")
    assert (sync.synced, sync.book) == (False, None)
    assert sync.on_message(_push("delta", [], [], u=U + 3, seq=SEQ + 10)) == Action.ignored("update before a snapshot")
    assert sync.counters == ChecksumCounters(
        snapshots_applied=1, ignored=1, resyncs=Counter({ResyncReason.SEQUENCE_GAP: 1})
    )


def test_swapped_or_repeated_deltas_are_gaps() -> None:
    first = _push("delta", [["17440.00", "1"]], [], u=U + 1, seq=SEQ + 1)
    second = _push("delta", [["17440.00", "2"]], [], u=U + 2, seq=SEQ + 2)

    swapped = _synced()
    assert [swapped.on_message(second).kind, swapped.on_message(first).kind] == [
        ActionKind.RESYNC,
        ActionKind.IGNORED,
    ]

    repeated = _synced()
    assert repeated.on_message(first) == APPLIED
    assert repeated.on_message(first) == Action.resync(
        ResyncReason.SEQUENCE_GAP, f"delta u {U + 1} does not follow u {U + 1}"
    )


def test_a_new_snapshot_replaces_the_book_and_u_1_is_a_service_restart() -> None:
    sync = _synced()
    sync.on_message(_push("delta", [], [], u=U + 5, seq=SEQ))  # a gap: the book is dropped
    restart = _push("snapshot", [["17450.00", "3.000"]], [["17451.00", "4.000"]], u=1, seq=SEQ + 100)

    assert sync.on_message(restart) == APPLIED
    assert (_levels(sync, Side.BID), _levels(sync, Side.ASK)) == ([("17450.00", "3.000")], [("17451.00", "4.000")])
    assert sync.on_message(_push("delta", [["17450.00", "0"]], [], u=2, seq=SEQ + 101)) == APPLIED
    # a snapshot while in sync (Bybit's own recovery) replaces the book too, levels not in it are gone
    assert sync.on_message(SNAPSHOT | {"data": SNAPSHOT["data"] | {"u": U + 10}}) == APPLIED
    assert _levels(sync, Side.BID)[0] == ("17440.00", "40.833")
    assert ("17451.00", "4.000") not in _levels(sync, Side.ASK)
    assert sync.restarts == 1
    assert sync.update_id == U + 10
    assert sync.counters == ChecksumCounters(
        snapshots_applied=3, applied=1, resyncs=Counter({ResyncReason.SEQUENCE_GAP: 1})
    )


def test_depth_1_resends_an_unchanged_snapshot_with_the_same_u() -> None:
    sync = BybitBookSync("BTCUSDT", depth=1)
    top = _push(
        "snapshot", [["17440.00", "40.833"]], [["17440.50", "78.815"]], u=U, seq=SEQ, topic="orderbook.1.BTCUSDT"
    )

    assert [sync.on_message(top), sync.on_message(top)] == [APPLIED, APPLIED]
    assert sync.counters == ChecksumCounters(snapshots_applied=2)


def test_the_book_is_kept_to_the_subscribed_depth() -> None:
    sync = BybitBookSync("BTCUSDT", depth=1)
    topic = "orderbook.1.BTCUSDT"
    sync.on_message(_push("snapshot", [["100", "1"]], [["101", "1"]], u=7, seq=1, topic=topic))

    assert sync.on_message(_push("delta", [["100.5", "2"]], [["102", "5"]], u=8, seq=2, topic=topic)) == APPLIED

    assert (_levels(sync, Side.BID), _levels(sync, Side.ASK)) == ([("100.5", "2")], [("101", "1")])


def test_a_crossed_book_resyncs() -> None:
    sync = _synced()

    action = sync.on_message(_push("delta", [["17441.00", "1"]], [], u=U + 1, seq=SEQ + 1))

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.CROSSED_BOOK)
    assert sync.book is None


@pytest.mark.parametrize("size", ["NaN", "1e3", "-1", "", " 1", 1.5, None])
def test_a_corrupted_number_resyncs_and_is_never_published(size: object) -> None:
    sync = _synced()

    action = sync.on_message(_push("delta", [["17440.00", size]], [], u=U + 1, seq=SEQ + 1))

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.BAD_NUMBER)
    assert sync.book is None
    assert sync.counters.resyncs == Counter({ResyncReason.BAD_NUMBER: 1})


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"type": "partial"}, "type is neither snapshot nor delta: 'partial'"),
        ({"data": SNAPSHOT["data"] | {"u": "13079593"}}, "data.u is not an integer: '13079593'"),
        ({"data": SNAPSHOT["data"] | {"seq": True}}, "data.seq is not an integer: True"),
    ],
)
def test_a_malformed_push_resyncs(change: dict[str, Any], detail: str) -> None:
    sync = _synced()

    assert sync.on_message(SNAPSHOT | change) == Action.resync(ResyncReason.MALFORMED, detail)


def test_other_messages_are_ignored() -> None:
    sync = BybitBookSync("BTCUSDT", depth=50)
    subscribed = {"success": True, "ret_msg": "", "conn_id": "c1", "req_id": "", "op": "subscribe"}

    assert sync.on_message(subscribed) == Action.ignored("not this topic")
    assert sync.on_message(SNAPSHOT | {"topic": "orderbook.200.BTCUSDT"}).kind is ActionKind.IGNORED
    assert sync.on_message(SNAPSHOT | {"topic": "orderbook.50.ETHUSDT"}).kind is ActionKind.IGNORED
    assert sync.on_message(_push("delta", [], [], u=U + 1, seq=SEQ)) == Action.ignored("update before a snapshot")
    assert sync.counters == ChecksumCounters(ignored=4)
    with pytest.raises(ValueError, match="Bybit order book depth must be one of"):
        BybitBookSync("BTCUSDT", depth=500)
