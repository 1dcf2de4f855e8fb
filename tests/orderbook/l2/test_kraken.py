"""Kraken v1 ``book``: the real capture replays with every checksum verified, and faults are caught at once.

``KRAKEN.ws.50.0`` (cryptofeed, April 2021) holds 4321 received messages: status events, heartbeats, and the
``book-1000`` feeds of 10 pairs, one snapshot and then updates each, every update with a checksum. These markets are
thin: no side ever reaches the 1000 subscribed levels, so depth truncation is tested on a ``book-10`` of its own.
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
from orderbook.l2.kraken import KRAKEN_CHECKSUM, KrakenBookSync, kraken_preimage

MESSAGES_PER_PAIR = {
    "XMR/USD": 847,
    "SC/EUR": 819,
    "WAVES/EUR": 577,
    "OMG/USD": 574,
    "ADA/XBT": 348,
    "KSM/XBT": 336,
    "ETH/CHF": 318,
    "XBT/CHF": 290,
    "OCEAN/XBT": 149,
    "GRT/ETH": 21,
}


@functools.cache
def _received(path: Path) -> tuple[Any, ...]:
    return tuple(record.payload for record in capture_read(path) if record.direction is Direction.RECEIVED)


@pytest.fixture
def messages(l2_captures_dir: Path) -> list[Any]:
    """The messages the capture received, decoded (read once per session)."""
    return list(_received(l2_captures_dir / "KRAKEN.ws.50.0"))


def _book_messages(messages: list[Any], pair: str) -> list[Any]:
    return [m for m in messages if isinstance(m, list) and m[-1] == pair]


def _replayed(messages: list[Any]) -> dict[str, dict[str, dict[Decimal, Decimal]]]:
    """Every pair's sides as plain dicts, apart from the code under test."""
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    for message in messages:
        if not isinstance(message, list):
            continue
        for part in message[1:-2]:
            if "as" in part:
                books[message[-1]] = {"a": {}, "b": {}}
            for key, levels in (("as", "a"), ("bs", "b"), ("a", "a"), ("b", "b")):
                for price, volume, *_ in part.get(key, []):
                    side = books[message[-1]][levels]
                    if Decimal(volume) == 0:
                        side.pop(Decimal(price), None)
                    else:
                        side[Decimal(price)] = Decimal(volume)
    return books


def _kraken_crc(asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> int:
    """The documented checksum from the strings themselves: 10 asks then 10 bids, points and leading zeros gone."""
    text = "".join(
        price.replace(".", "").lstrip("0") + volume.replace(".", "").lstrip("0") for price, volume in asks + bids
    )
    return zlib.crc32(text.encode())


def _update(side: str, levels: list[list[str]], checksum: int, pair: str = "XBT/USD") -> list[Any]:
    return [0, {side: levels, "c": str(checksum)}, "book-10", pair]


def _synced(pushes: list[Any], count: int) -> KrakenBookSync:
    sync = KrakenBookSync(pushes[0][-1], depth=1000)
    for push in pushes[:count]:
        assert sync.on_message(push) == APPLIED
    return sync


def test_the_documented_level_strings() -> None:
    # "0.05000" -> "5000" and "0.00000500" -> "500" (v1 guide); "45285.2" -> "452852", "0.00100000" -> "100000" (v2)
    assert kraken_preimage([], [(Decimal("0.05000"), Decimal("0.00000500"))]) == "5000500"
    assert kraken_preimage([(Decimal("45285.2"), Decimal("0.00100000"))], []) == "452852100000"
    # asks (low to high) come before bids (high to low)
    ask, bid = (Decimal("2.0"), Decimal("1.0")), (Decimal("1.5"), Decimal("3"))
    assert kraken_preimage([bid], [ask]) == "201015" + "3"
    assert (KRAKEN_CHECKSUM.depth, KRAKEN_CHECKSUM.on_snapshots) == (10, False)


def test_every_checksum_in_the_capture_verifies(messages: list[Any]) -> None:
    syncs = {pair: KrakenBookSync(pair, depth=1000) for pair in MESSAGES_PER_PAIR}
    actions: Counter[ActionKind] = Counter()

    for message in messages:
        for sync in syncs.values():
            actions[sync.on_message(message).kind] += 1

    assert len(messages) == 4321
    assert {pair: sync.counters for pair, sync in syncs.items()} == {
        pair: ChecksumCounters(snapshots_applied=1, applied=n - 1, ignored=4321 - n, checksums_verified=n - 1)
        for pair, n in MESSAGES_PER_PAIR.items()
    }
    assert sum(sync.counters.checksums_verified for sync in syncs.values()) == 4269
    assert actions == {ActionKind.APPLIED: 4279, ActionKind.IGNORED: 10 * 4321 - 4279}
    # one update carries both sides: a new ask at the price of a bid it removes (crossed only mid-message)
    assert [m[-1] for m in messages if isinstance(m, list) and len(m) == 5] == ["SC/EUR"]


def test_the_final_top_of_book_matches_an_independent_replay(messages: list[Any]) -> None:
    syncs = {pair: KrakenBookSync(pair, depth=1000) for pair in MESSAGES_PER_PAIR}
    for message in messages:
        for sync in syncs.values():
            sync.on_message(message)
    replayed = _replayed(messages)

    for pair, sync in syncs.items():
        bids, asks = replayed[pair]["b"], replayed[pair]["a"]
        assert sync.book.best_bid() == (max(bids), bids[max(bids)]), pair
        assert sync.book.best_ask() == (min(asks), asks[min(asks)]), pair
        assert (sync.book.depth(Side.BID), sync.book.depth(Side.ASK)) == (len(bids), len(asks)), pair
        assert max(len(bids), len(asks)) < 1000
    assert syncs["XMR/USD"].book.best_bid() == (Decimal("353.64000000"), Decimal("30.30000000"))
    assert syncs["XMR/USD"].book.best_ask() == (Decimal("354.48000000"), Decimal("6.86050247"))
    assert syncs["ADA/XBT"].book.best_bid() == (Decimal("0.000022880"), Decimal("11947.13445094"))
    assert syncs["ADA/XBT"].book.best_ask() == (Decimal("0.000022900"), Decimal("7200.50427342"))


def test_a_dropped_update_is_a_checksum_mismatch_on_the_very_next_message(messages: list[Any]) -> None:
    pushes = _book_messages(messages, "XMR/USD")
    assert pushes[1][1]["b"][0][:2] == ["354.15000000", "5.00000000"]  # a new third-best bid
    sync = _synced(pushes, 1)

    action = sync.on_message(pushes[2])

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.CHECKSUM_MISMATCH)
    assert (sync.synced, sync.book) == (False, None)
    assert sync.on_message(pushes[3]) == Action.ignored("update before a snapshot")


@pytest.mark.parametrize(
    ("pair", "caught", "harmless"), [("GRT/ETH", 10, 9), ("OCEAN/XBT", 112, 35), ("ETH/CHF", 261, 55)]
)
def test_every_dropped_update_is_caught_next_unless_the_top_10_came_out_the_same(
    messages: list[Any], pair: str, caught: int, harmless: int
) -> None:
    pushes = _book_messages(messages, pair)
    outcomes: Counter[str] = Counter()
    truth = _synced(pushes, 1)
    for dropped in range(1, len(pushes) - 1):
        without = copy.deepcopy(truth)
        truth.on_message(pushes[dropped])
        action = without.on_message(pushes[dropped + 1])
        if action.kind is ActionKind.RESYNC:
            assert action.reason is ResyncReason.CHECKSUM_MISMATCH
            outcomes["caught"] += 1
        else:
            # the lost update was below the 10 checksummed levels, or the next one rewrote it
            after = copy.deepcopy(truth)
            after.on_message(pushes[dropped + 1])
            for side in Side:
                assert without.book.levels(side, 10) == after.book.levels(side, 10)
            outcomes["harmless"] += 1

    assert outcomes == {"caught": caught, "harmless": harmless}


def test_swapped_updates_are_caught_on_the_first_of_the_two(messages: list[Any]) -> None:
    pushes = _book_messages(messages, "XMR/USD")
    sync = _synced(pushes, 9)  # update 9 adds the best bid 354.17, update 10 removes 354.16

    first = sync.on_message(pushes[10])
    second = sync.on_message(pushes[9])

    assert (first.kind, first.reason) == (ActionKind.RESYNC, ResyncReason.CHECKSUM_MISMATCH)
    assert second == Action.ignored("update before a snapshot")


def test_a_corrupted_volume_is_caught_on_the_message_that_carries_it(messages: list[Any]) -> None:
    pushes = _book_messages(messages, "XMR/USD")
    corrupted = copy.deepcopy(pushes[9])
    assert corrupted[1]["b"][0][:2] == ["354.17000000", "6.88271768"]
    corrupted[1]["b"][0][1] = "6.88271769"
    sync = _synced(pushes, 9)

    action = sync.on_message(corrupted)

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.CHECKSUM_MISMATCH)
    assert sync.book is None
    assert _synced(pushes, 10).book.best_bid() == (Decimal("354.17000000"), Decimal("6.88271768"))


@pytest.mark.parametrize("volume", ["NaN", "6.8e1", "-6.88271768", "", 6.88, None])
def test_a_volume_that_is_not_a_number_resyncs_and_is_never_published(messages: list[Any], volume: object) -> None:
    pushes = _book_messages(messages, "XMR/USD")
    corrupted = copy.deepcopy(pushes[9])
    corrupted[1]["b"][0][1] = volume
    sync = _synced(pushes, 9)

    action = sync.on_message(corrupted)

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.BAD_NUMBER)
    assert sync.book is None


BIDS_10 = [(f"{100 - i}.0", "1.00000000") for i in range(10)]  # 100.0 .. 91.0
ASKS_10 = [(f"{101 + i}.0", "2.00000000") for i in range(10)]  # 101.0 .. 110.0


def test_the_book_is_cut_to_the_subscribed_depth_and_republished_levels_fill_it() -> None:
    sync = KrakenBookSync("XBT/USD", depth=10)
    snapshot = [0, {"as": [[*a, "1.0"] for a in ASKS_10], "bs": [[*b, "1.0"] for b in BIDS_10]}, "book-10", "XBT/USD"]
    assert sync.on_message(snapshot) == APPLIED

    # a better bid pushes 91.0 out of the 10 levels; Kraken sends no removal for it
    inserted = [("100.5", "3.00000000"), *BIDS_10[:9]]
    assert sync.on_message(_update("b", [["100.5", "3.00000000", "2.0"]], _kraken_crc(ASKS_10, inserted))) == APPLIED
    assert sync.book.depth(Side.BID) == 10
    # 91.0 left meanwhile, unseen; when 100.5 goes, Kraken republishes the new tenth level, 90.0, flagged "r"
    refilled = [*BIDS_10[:9], ("90.0", "4.00000000")]
    update = _update("b", [["100.5", "0.00000000", "3.0"], ["90.0", "4.00000000", "3.0", "r"]], 0)
    update[1]["c"] = str(_kraken_crc(ASKS_10, refilled))

    assert sync.on_message(update) == APPLIED
    assert [price for price, _ in sync.book.levels(Side.BID)] == [Decimal(p) for p, _ in refilled]
    assert sync.counters == ChecksumCounters(snapshots_applied=1, applied=2, checksums_verified=2)


def test_a_crossed_book_resyncs_even_with_a_matching_checksum() -> None:
    sync = KrakenBookSync("XBT/USD", depth=10)
    sync.on_message([0, {"as": [["101.0", "1.0", "1.0"]], "bs": [["100.0", "1.0", "1.0"]]}, "book-10", "XBT/USD"])

    action = sync.on_message(
        _update("b", [["101.5", "1.0", "2.0"]], _kraken_crc([("101.0", "1.0")], [("101.5", "1.0"), ("100.0", "1.0")]))
    )

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.CROSSED_BOOK)
    assert sync.counters.checksums_verified == 1


@pytest.mark.parametrize("checksum", ["abc", "-5", "4294967296", "", 12345, None])
def test_an_unreadable_checksum_resyncs(checksum: object) -> None:
    sync = KrakenBookSync("XBT/USD", depth=10)
    sync.on_message([0, {"as": [["101.0", "1.0", "1.0"]], "bs": [["100.0", "1.0", "1.0"]]}, "book-10", "XBT/USD"])
    update = [0, {"b": [["100.0", "2.0", "2.0"]], "c": checksum}, "book-10", "XBT/USD"]

    assert sync.on_message(update).reason is ResyncReason.MALFORMED


def test_other_messages_are_ignored_and_a_broken_update_resyncs() -> None:
    sync = KrakenBookSync("XBT/USD", depth=10)
    snapshot = [0, {"as": [["101.0", "1.0", "1.0"]], "bs": [["100.0", "1.0", "1.0"]]}, "book-10", "XBT/USD"]
    assert sync.on_message({"event": "heartbeat"}) == Action.ignored("not this pair's book")
    assert sync.on_message([0, snapshot[1], "book-10", "XBT/EUR"]).kind is ActionKind.IGNORED
    assert sync.on_message([0, snapshot[1], "book-25", "XBT/USD"]).kind is ActionKind.IGNORED
    assert sync.on_message(snapshot) == APPLIED
    assert sync.on_message([0, {"b": [["100.0", "2.0", "2.0"]]}, "book-10", "XBT/USD"]) == Action.resync(
        ResyncReason.MALFORMED, "update without a checksum"
    )
    assert sync.on_message(snapshot) == APPLIED
    assert sync.on_message([0, {"x": [], "c": "1"}, "book-10", "XBT/USD"]).reason is ResyncReason.MALFORMED
    assert sync.counters.ignored == 3
    with pytest.raises(ValueError, match="Kraken book depth must be one of"):
        KrakenBookSync("XBT/USD", depth=50)
