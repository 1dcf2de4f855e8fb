"""OKX ``books``: the real capture replays with every checksum verified, and faults are caught at once.

``OKX.ws.1.0`` (cryptofeed, May 2022) holds 410 received messages: tickers, trades, subscription events and the
``books`` pushes of BTC-USD-220527, UNI-USD-SWAP and BTC-USDT, one snapshot and then updates each, every push with a
checksum and none with ``seqId`` (OKX added those later). The sequence rules are tested on pushes in the documented
shape instead.
"""

from __future__ import annotations

import copy
import functools
import zlib
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orderbook.l2.book import APPLIED, Action, ActionKind, ResyncReason, Side
from orderbook.l2.captures import Direction, capture_read
from orderbook.l2.checksum import ChecksumCounters
from orderbook.l2.okx import OKX_CHECKSUM, OkxBookSync, okx_preimage

INSTRUMENTS = ("BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT")


@functools.cache
def _received(path: Path) -> tuple[Any, ...]:
    return tuple(record.payload for record in capture_read(path) if record.direction is Direction.RECEIVED)


@pytest.fixture
def messages(l2_captures_dir: Path) -> list[Any]:
    """The messages the capture received, decoded (read once per session)."""
    return list(_received(l2_captures_dir / "OKX.ws.1.0"))


def _pushes(messages: list[Any], inst_id: str) -> list[Any]:
    return [m for m in messages if m.get("arg") == {"channel": "books", "instId": inst_id} and "action" in m]


def _top_replayed(pushes: list[Any]) -> tuple[tuple[Decimal, Decimal], tuple[Decimal, Decimal]]:
    """Best bid and ask from plain dicts, apart from the code under test."""
    sides: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    for push in pushes:
        if push["action"] == "snapshot":
            sides = {"bids": {}, "asks": {}}
        for name, levels in sides.items():
            for price, size, *_ in push["data"][0][name]:
                if Decimal(size) == 0:
                    levels.pop(Decimal(price), None)
                else:
                    levels[Decimal(price)] = Decimal(size)
    best_bid, best_ask = max(sides["bids"]), min(sides["asks"])
    return (best_bid, sides["bids"][best_bid]), (best_ask, sides["asks"][best_ask])


def _okx_crc(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """The documented checksum from the strings themselves: 25 a side interleaved, signed CRC32."""
    parts: list[str] = []
    for index in range(25):
        for levels in (bids, asks):
            if index < len(levels):
                parts += levels[index]
    value = zlib.crc32(":".join(parts).encode())
    return value - 2**32 if value >= 2**31 else value


def _push(
    action: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    *,
    checksum: int,
    seq_id: int | None = None,
    prev_seq_id: int | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "asks": [[price, size, "0", "1"] for price, size in asks],
        "bids": [[price, size, "0", "1"] for price, size in bids],
        "ts": "1700000000000",
        "checksum": checksum,
    }
    if seq_id is not None:
        data |= {"seqId": seq_id, "prevSeqId": prev_seq_id}
    return {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": action, "data": [data]}


def _synced(pushes: list[Any], count: int) -> OkxBookSync:
    sync = OkxBookSync(pushes[0]["arg"]["instId"])
    for push in pushes[:count]:
        assert sync.on_message(push) == APPLIED
    return sync


def test_the_documented_checksum_strings() -> None:
    # OKX's two examples: more than 25 levels (shown with two), and fewer asks than bids' counterparts
    two_each = okx_preimage(
        [(Decimal("43231.1"), Decimal("4")), (Decimal("43231"), Decimal("6"))],
        [(Decimal("43232.8"), Decimal("9")), (Decimal("43232.9"), Decimal("8"))],
    )
    assert two_each == "43231.1:4:43232.8:9:43231:6:43232.9:8"
    uneven = okx_preimage(
        [(Decimal("3366.1"), Decimal("7"))],
        [(Decimal("3366.8"), Decimal("9")), (Decimal("3368"), Decimal("8")), (Decimal("3372"), Decimal("8"))],
    )
    assert uneven == "3366.1:7:3366.8:9:3368:8:3372:8"
    assert OKX_CHECKSUM.depth == 25


def test_every_checksum_in_the_capture_verifies(messages: list[Any]) -> None:
    syncs = {inst_id: OkxBookSync(inst_id) for inst_id in INSTRUMENTS}
    actions: Counter[tuple[str, ActionKind]] = Counter()

    for message in messages:
        for inst_id, sync in syncs.items():
            actions[inst_id, sync.on_message(message).kind] += 1

    assert len(messages) == 410
    assert {inst_id: sync.counters for inst_id, sync in syncs.items()} == {
        "BTC-USD-220527": ChecksumCounters(snapshots_applied=1, applied=98, ignored=311, checksums_verified=99),
        "UNI-USD-SWAP": ChecksumCounters(snapshots_applied=1, applied=92, ignored=317, checksums_verified=93),
        "BTC-USDT": ChecksumCounters(snapshots_applied=1, applied=97, ignored=312, checksums_verified=98),
    }
    assert sum(sync.counters.checksums_verified for sync in syncs.values()) == 290
    assert sum(n for (_, kind), n in actions.items() if kind is ActionKind.RESYNC) == 0


def test_the_final_top_of_book_matches_an_independent_replay(messages: list[Any]) -> None:
    syncs = {inst_id: OkxBookSync(inst_id) for inst_id in INSTRUMENTS}
    for message in messages:
        for sync in syncs.values():
            sync.on_message(message)

    tops = {inst_id: (sync.book.best_bid(), sync.book.best_ask()) for inst_id, sync in syncs.items()}

    assert tops == {inst_id: _top_replayed(_pushes(messages, inst_id)) for inst_id in INSTRUMENTS}
    assert tops == {
        "BTC-USD-220527": ((Decimal("30229.4"), Decimal("2")), (Decimal("30238.8"), Decimal("3"))),
        "UNI-USD-SWAP": ((Decimal("5.137"), Decimal("20")), (Decimal("5.145"), Decimal("50"))),
        "BTC-USDT": ((Decimal("30236.1"), Decimal("0.18050747")), (Decimal("30236.2"), Decimal("0.001"))),
    }
    assert {inst_id: (s.book.depth(Side.BID), s.book.depth(Side.ASK)) for inst_id, s in syncs.items()} == {
        "BTC-USD-220527": (74, 62),
        "UNI-USD-SWAP": (125, 118),
        "BTC-USDT": (400, 400),
    }


def test_a_dropped_update_is_a_checksum_mismatch_on_the_very_next_message(messages: list[Any]) -> None:
    pushes = _pushes(messages, "BTC-USDT")
    sync = _synced(pushes, 1)  # the snapshot; update 1 is lost

    action = sync.on_message(pushes[2])

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.CHECKSUM_MISMATCH)
    assert (sync.synced, sync.book) == (False, None)
    assert sync.on_message(pushes[3]) == Action.ignored("update before a snapshot")
    assert sync.counters == ChecksumCounters(
        snapshots_applied=1,
        ignored=1,
        checksums_verified=1,  # the snapshot's
        resyncs=Counter({ResyncReason.CHECKSUM_MISMATCH: 1}),
    )


def test_every_dropped_update_is_caught_next_unless_the_top_25_came_out_the_same(messages: list[Any]) -> None:
    caught: Counter[str] = Counter()
    harmless: Counter[str] = Counter()
    for inst_id in INSTRUMENTS:
        pushes = _pushes(messages, inst_id)
        truth = _synced(pushes, 1)
        for dropped in range(1, len(pushes) - 1):
            without = copy.deepcopy(truth)
            truth.on_message(pushes[dropped])
            action = without.on_message(pushes[dropped + 1])
            if action.kind is ActionKind.RESYNC:
                assert action.reason is ResyncReason.CHECKSUM_MISMATCH
                caught[inst_id] += 1
            else:
                # the next push rewrote whatever the lost one changed inside the checksummed window
                after = copy.deepcopy(truth)
                after.on_message(pushes[dropped + 1])
                for side in Side:
                    assert without.book.levels(side, 25) == after.book.levels(side, 25)
                harmless[inst_id] += 1

    assert caught == {"BTC-USD-220527": 96, "UNI-USD-SWAP": 80, "BTC-USDT": 96}
    assert harmless == {"BTC-USD-220527": 1, "UNI-USD-SWAP": 11}


def test_swapped_updates_are_caught_on_the_first_of_the_two(messages: list[Any]) -> None:
    pushes = _pushes(messages, "BTC-USD-220527")
    sync = _synced(pushes, 10)

    first = sync.on_message(pushes[11])
    second = sync.on_message(pushes[10])

    assert (first.kind, first.reason) == (ActionKind.RESYNC, ResyncReason.CHECKSUM_MISMATCH)
    assert second == Action.ignored("update before a snapshot")


def test_a_corrupted_size_is_caught_on_the_message_that_carries_it(messages: list[Any]) -> None:
    pushes = _pushes(messages, "BTC-USDT")
    corrupted = copy.deepcopy(pushes[1])
    assert corrupted["data"][0]["asks"][0][:2] == ["30243.5", "1.2112"]
    corrupted["data"][0]["asks"][0][1] = "1.2113"
    sync = _synced(pushes, 1)

    action = sync.on_message(corrupted)

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.CHECKSUM_MISMATCH)
    assert sync.book is None
    # the clean message would have made 30243.5 the best ask, well inside the 25 checksummed levels
    assert _synced(pushes, 2).book.best_ask() == (Decimal("30243.5"), Decimal("1.2112"))


@pytest.mark.parametrize("size", ["NaN", "1e-3", "-0.5", "", "0.5 ", 0.5, None])
def test_a_size_that_is_not_a_number_resyncs_and_is_never_published(messages: list[Any], size: object) -> None:
    pushes = _pushes(messages, "BTC-USDT")
    corrupted = copy.deepcopy(pushes[1])
    corrupted["data"][0]["bids"][-1][1] = size
    sync = _synced(pushes, 1)

    action = sync.on_message(corrupted)

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.BAD_NUMBER)
    assert sync.book is None


def test_a_crossed_book_resyncs_even_with_a_matching_checksum() -> None:
    bids, asks = [("30250", "1")], [("30249.5", "2")]
    sync = OkxBookSync("BTC-USDT")

    action = sync.on_message(_push("snapshot", bids, asks, checksum=_okx_crc(bids, asks)))

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.CROSSED_BOOK)
    assert sync.counters.checksums_verified == 1


def test_sequence_ids_chain_through_keepalives_and_resets() -> None:
    book_bids, book_asks = [("100.1", "2"), ("100", "1")], [("100.2", "3")]
    sync = OkxBookSync("BTC-USDT")
    # once OKX stopped computing checksums, every push carries checksum 0; seqId/prevSeqId is the check
    snapshot = _push("snapshot", book_bids, book_asks, checksum=0, seq_id=10, prev_seq_id=-1)
    update = _push("update", [("100.1", "0")], [], checksum=0, seq_id=11, prev_seq_id=10)
    keepalive = _push("update", [], [], checksum=0, seq_id=11, prev_seq_id=11)
    reset = _push("update", [("99.9", "4")], [], checksum=0, seq_id=3, prev_seq_id=11)

    assert [sync.on_message(m) for m in (snapshot, update, keepalive, reset)] == [APPLIED] * 4
    assert sync.book.levels(Side.BID) == [(Decimal("100"), Decimal("1")), (Decimal("99.9"), Decimal("4"))]
    assert sync.seq_id == 3
    assert sync.counters == ChecksumCounters(snapshots_applied=1, applied=3, checksums_skipped=4)


def test_a_dropped_or_swapped_push_is_a_sequence_gap() -> None:
    snapshot = _push("snapshot", [("100", "1")], [("101", "1")], checksum=0, seq_id=10, prev_seq_id=-1)
    first = _push("update", [("100", "2")], [], checksum=0, seq_id=12, prev_seq_id=10)
    second = _push("update", [("100", "3")], [], checksum=0, seq_id=15, prev_seq_id=12)

    dropped = OkxBookSync("BTC-USDT")
    dropped.on_message(snapshot)
    assert dropped.on_message(second) == Action.resync(
        ResyncReason.SEQUENCE_GAP, "prevSeqId 12 does not follow seqId 10"
    )
    assert dropped.book is None

    swapped = OkxBookSync("BTC-USDT")
    swapped.on_message(snapshot)
    assert [swapped.on_message(m).kind for m in (second, first)] == [ActionKind.RESYNC, ActionKind.IGNORED]

    unnumbered = OkxBookSync("BTC-USDT")
    unnumbered.on_message(snapshot)
    assert unnumbered.on_message(_push("update", [("100", "2")], [], checksum=0)) == Action.resync(
        ResyncReason.SEQUENCE_GAP, "prevSeqId None does not follow seqId 10"
    )


def test_a_checksum_is_verified_alongside_the_sequence() -> None:
    bids, asks = [("100", "1")], [("101", "1")]
    sync = OkxBookSync("BTC-USDT")
    sync.on_message(_push("snapshot", bids, asks, checksum=_okx_crc(bids, asks), seq_id=1, prev_seq_id=-1))

    action = sync.on_message(
        _push("update", [("100", "2")], [], checksum=_okx_crc(bids, asks), seq_id=2, prev_seq_id=1)
    )

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.CHECKSUM_MISMATCH)


def test_other_messages_are_ignored_and_a_broken_push_resyncs() -> None:
    sync = OkxBookSync("BTC-USDT")
    snapshot = _push("snapshot", [("100", "1")], [("101", "1")], checksum=_okx_crc([("100", "1")], [("101", "1")]))
    assert sync.on_message({"event": "subscribe", "arg": {"channel": "books", "instId": "BTC-USDT"}}) == Action.ignored(
        "not a push"
    )
    assert sync.on_message(snapshot | {"arg": {"channel": "books", "instId": "ETH-USDT"}}).kind is ActionKind.IGNORED
    assert sync.on_message(snapshot | {"arg": {"channel": "books5", "instId": "BTC-USDT"}}).kind is ActionKind.IGNORED
    assert sync.on_message(snapshot) == APPLIED
    assert sync.on_message(snapshot | {"action": "partial"}).reason is ResyncReason.MALFORMED
    assert sync.on_message(snapshot) == APPLIED
    assert sync.on_message(snapshot | {"data": []}).reason is ResyncReason.MALFORMED
    assert sync.counters.ignored == 3
    with pytest.raises(ValueError, match="unknown OKX order book channel"):
        OkxBookSync("BTC-USDT", channel="books5")
