"""Coinbase level2: the recorded Exchange-feed session replayed and faulted; Advanced Trade in its documented shape.

Expected books are computed here from the raw JSON with plain dicts, never with :class:`L2Book`; the session's own
``ticker`` channel (best bid and ask at each trade) is a second, independent witness.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orderbook.l2.book import ActionKind, BookDataError, L2Book, ResyncReason, Side, SyncCounters
from orderbook.l2.captures import Direction, capture_read
from orderbook.l2.coinbase import AdvancedTradeConnection, CoinbaseExchangeBookSync, coinbase_time_parse

PRODUCTS = (
    "SKL-USD",
    "SKL-BTC",
    "BAND-GBP",
    "NMR-EUR",
    "BAND-BTC",
    "YFI-BTC",
    "DASH-BTC",
    "NU-GBP",
    "CRV-EUR",
    "SKL-GBP",
)
Top = tuple[Decimal, Decimal, Decimal, Decimal]  # bid price, bid size, ask price, ask size


@dataclass
class DictBook:
    bids: dict[Decimal, Decimal]
    asks: dict[Decimal, Decimal]

    @classmethod
    def from_snapshot(cls, message: dict[str, Any]) -> DictBook:
        return cls(
            {Decimal(p): Decimal(q) for p, q in message["bids"]}, {Decimal(p): Decimal(q) for p, q in message["asks"]}
        )

    def apply(self, message: dict[str, Any]) -> None:
        for side, price, size in message["changes"]:
            levels = self.bids if side == "buy" else self.asks
            if Decimal(size) == 0:
                levels.pop(Decimal(price), None)
            else:
                levels[Decimal(price)] = Decimal(size)

    def top(self) -> Top:
        bid, ask = max(self.bids), min(self.asks)
        return bid, self.bids[bid], ask, self.asks[ask]


def book_top(book: L2Book | None) -> Top:
    assert book is not None
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    return bid[0], bid[1], ask[0], ask[1]


def book_levels(book: L2Book | None) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    assert book is not None
    return book.levels(Side.BID), book.levels(Side.ASK)


@pytest.fixture
def messages(l2_captures_dir: Path) -> list[dict[str, Any]]:
    """Every message the venue sent in the recorded session, in arrival order."""
    return [
        record.payload  # type: ignore[misc]
        for record in capture_read(l2_captures_dir / "COINBASE.ws.28.0")
        if record.direction is Direction.RECEIVED
    ]


def of_product(messages: list[dict[str, Any]], product_id: str, *kinds: str) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("product_id") == product_id and m["type"] in kinds]


def replay(messages: list[dict[str, Any]]) -> dict[str, CoinbaseExchangeBookSync]:
    syncs = {product_id: CoinbaseExchangeBookSync(product_id) for product_id in PRODUCTS}
    for message in messages:
        if "product_id" in message:
            syncs[message["product_id"]].on_message(message)
    return syncs


# --- the recorded Exchange-feed session ------------------------------------------------------------------------


def test_the_recorded_session_syncs_all_ten_products_without_a_resync(messages: list[dict[str, Any]]) -> None:
    syncs = replay(messages)

    applied = {
        "SKL-USD": 2592,
        "DASH-BTC": 1925,
        "SKL-BTC": 1539,
        "BAND-BTC": 1005,
        "CRV-EUR": 670,
        "NMR-EUR": 665,
        "YFI-BTC": 487,
        "BAND-GBP": 471,
        "SKL-GBP": 289,
        "NU-GBP": 76,
    }
    ignored = {  # the same products' ticker, match and last_match messages
        "SKL-USD": 106,
        "DASH-BTC": 32,
        "SKL-BTC": 18,
        "BAND-BTC": 18,
        "CRV-EUR": 2,
        "NMR-EUR": 18,
        "YFI-BTC": 2,
        "BAND-GBP": 10,
        "SKL-GBP": 4,
        "NU-GBP": 4,
    }
    assert {p: s.counters for p, s in syncs.items()} == {
        p: SyncCounters(applied=applied[p], ignored=ignored[p], snapshots_applied=1) for p in PRODUCTS
    }
    assert sum(applied.values()) == 9719
    assert all(sync.synced for sync in syncs.values())


def test_the_final_books_equal_the_dict_model_of_the_raw_messages(messages: list[dict[str, Any]]) -> None:
    syncs = replay(messages)

    expected = {  # (best bid, its size, best ask, its size), (bid levels, ask levels)
        "BAND-BTC": (("0.00033388", "0.92", "0.00033421", "36.83"), (323, 825)),
        "BAND-GBP": (("14.7366", "27.57", "14.7664", "12.00"), (148, 162)),
        "CRV-EUR": (("3.2956", "96.95", "3.3010", "97.66"), (389, 297)),
        "DASH-BTC": (("0.00619316", "1.687", "0.00619947", "28.997"), (436, 541)),
        "NMR-EUR": (("66.9257", "1.322", "67.0210", "11.950"), (633, 310)),
        "NU-GBP": (("0.4388", "242.89", "0.4393", "8208.213533"), (118, 450)),
        "SKL-BTC": (("0.00001303", "1249.9", "0.00001305", "1817.4"), (225, 407)),
        "SKL-GBP": (("0.5747", "1028.6", "0.5768", "1735.0"), (102, 175)),
        "SKL-USD": (("0.7902", "468.0", "0.7911", "450.0"), (816, 1341)),
        "YFI-BTC": (("0.82553", "0.017061", "0.82696", "0.030000"), (203, 458)),
    }
    for product_id, (top, depths) in expected.items():
        model = DictBook.from_snapshot(of_product(messages, product_id, "snapshot")[0])
        for update in of_product(messages, product_id, "l2update"):
            model.apply(update)
        top_decimals = tuple(Decimal(value) for value in top)
        assert model.top() == top_decimals
        assert book_top(syncs[product_id].book) == top_decimals
        bids, asks = book_levels(syncs[product_id].book)
        assert (len(bids), len(asks)) == depths
        assert bids == sorted(model.bids.items(), reverse=True)
        assert asks == sorted(model.asks.items())


def test_every_live_ticker_names_the_top_of_the_mirrored_book_at_its_arrival(messages: list[dict[str, Any]]) -> None:
    syncs = {product_id: CoinbaseExchangeBookSync(product_id) for product_id in PRODUCTS}
    seen: Counter[str] = Counter()
    agreed = disagreed_at_subscribe = 0

    for message in messages:
        if "product_id" not in message:
            continue
        product_id = message["product_id"]
        syncs[product_id].on_message(message)
        if message["type"] != "ticker":
            continue
        seen[product_id] += 1
        top = book_top(syncs[product_id].book)
        witness = (Decimal(message["best_bid"]), Decimal(message["best_ask"]))
        if seen[product_id] == 1:
            # Subscribing replays the product's last ticker, from before the snapshot: not a witness of the book.
            disagreed_at_subscribe += (top[0], top[2]) != witness
        else:
            assert (top[0], top[2]) == witness, message
            agreed += 1

    assert (agreed, disagreed_at_subscribe) == (97, 7)


# --- faults injected into the recorded SKL-USD stream ----------------------------------------------------------


@pytest.fixture
def skl(messages: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """SKL-USD's snapshot and its 2,592 updates."""
    return of_product(messages, "SKL-USD", "snapshot")[0], of_product(messages, "SKL-USD", "l2update")


def synced_skl(snapshot: dict[str, Any], updates: list[dict[str, Any]], count: int) -> CoinbaseExchangeBookSync:
    sync = CoinbaseExchangeBookSync("SKL-USD")
    assert sync.on_message(snapshot).kind is ActionKind.APPLIED
    assert {sync.on_message(update).kind for update in updates[:count]} <= {ActionKind.APPLIED}
    return sync


def test_a_lost_update_that_created_a_level_is_caught_when_the_next_message_removes_it(
    skl: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    snapshot, updates = skl
    model = DictBook.from_snapshot(snapshot)
    for index, update in enumerate(updates):  # the first update adding a level the very next update removes
        side, price, _ = update["changes"][0]
        levels = model.bids if side == "buy" else model.asks
        next_side, next_price, next_size = updates[index + 1]["changes"][0]
        if Decimal(price) not in levels and (next_side, next_price, Decimal(next_size)) == (side, price, 0):
            break
        model.apply(update)
    sync = synced_skl(snapshot, updates, index)

    action = sync.on_message(updates[index + 1])  # updates[index] was lost

    assert (index, updates[index]["changes"]) == (501, [["sell", "0.7922", "1017.5"]])
    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.UNKNOWN_LEVEL)
    assert sync.book is None
    lenient = CoinbaseExchangeBookSync("SKL-USD", strict_removals=False)
    lenient.on_message(snapshot)
    assert {lenient.on_message(u).kind for u in updates[:index] + updates[index + 1 :]} == {ActionKind.APPLIED}


def test_two_swapped_updates_are_a_resync_when_the_earlier_one_arrives_second(
    skl: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    snapshot, updates = skl
    index = next(i for i in range(100, len(updates)) if updates[i]["time"] < updates[i + 1]["time"])
    sync = synced_skl(snapshot, updates, index)

    kinds = [sync.on_message(update).kind for update in (updates[index + 1], updates[index])]

    assert kinds == [ActionKind.APPLIED, ActionKind.RESYNC]
    assert sync.counters.resyncs == {ResyncReason.OUT_OF_ORDER: 1}
    assert sync.book is None


def test_a_corrupted_size_is_a_resync_and_later_updates_wait_for_a_snapshot(
    skl: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    snapshot, updates = skl
    sync = synced_skl(snapshot, updates, 500)
    corrupted = copy.deepcopy(updates[500])
    corrupted["changes"][0][2] = "4.5.0"

    action = sync.on_message(corrupted)

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.BAD_NUMBER)
    assert sync.book is None
    assert [sync.on_message(u).kind for u in updates[501:504]] == [ActionKind.DROPPED_STALE] * 3
    # Resubscribing brings a fresh snapshot: here the recorded one, which the sync takes as the whole book.
    assert sync.on_message(snapshot).kind is ActionKind.APPLIED
    assert book_levels(sync.book) == book_levels(synced_skl(snapshot, updates, 0).book)


def test_an_update_that_crosses_the_book_is_a_resync(skl: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    snapshot, updates = skl
    sync = synced_skl(snapshot, updates, 1000)
    best_ask = book_top(sync.book)[2]
    crossing = {**updates[1000], "changes": [["buy", str(best_ask), "1.0"]]}

    action = sync.on_message(crossing)

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.CROSSED_BOOK)
    assert sync.book is None


def test_updates_before_the_snapshot_ask_for_it_once_and_a_new_snapshot_replaces_the_book(
    skl: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    snapshot, updates = skl
    sync = CoinbaseExchangeBookSync("SKL-USD")

    kinds = [sync.on_message(update).kind for update in updates[:3]]
    sync.on_message(snapshot)
    for update in updates[:800]:
        sync.on_message(update)
    replacement = {"type": "snapshot", "product_id": "SKL-USD", "bids": [["0.5", "10"]], "asks": [["0.6", "20"]]}

    assert kinds == [ActionKind.NEED_SNAPSHOT, ActionKind.DROPPED_STALE, ActionKind.DROPPED_STALE]
    assert sync.on_message(replacement).kind is ActionKind.APPLIED
    assert book_levels(sync.book) == ([(Decimal("0.5"), Decimal(10))], [(Decimal("0.6"), Decimal(20))])
    assert sync.counters.snapshots_applied == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (["hold", "0.79", "1"], ResyncReason.MALFORMED),
        (["buy", "0.79"], ResyncReason.MALFORMED),
        (["buy", "0", "1"], ResyncReason.BAD_NUMBER),
        (["buy", "0.79", 1], ResyncReason.BAD_NUMBER),
        (["buy", "0.79", "-1"], ResyncReason.BAD_NUMBER),
    ],
)
def test_changes_that_cannot_be_applied_are_a_resync(change: list[object], reason: ResyncReason) -> None:
    sync = CoinbaseExchangeBookSync("X-USD")
    sync.on_message({"type": "snapshot", "product_id": "X-USD", "bids": [["0.5", "1"]], "asks": [["0.9", "1"]]})

    action = sync.on_message(
        {"type": "l2update", "product_id": "X-USD", "changes": [change], "time": "2021-04-17T16:43:37.089402Z"}
    )

    assert (action.kind, action.reason) == (ActionKind.RESYNC, reason)


def test_coinbase_times_parse_to_aware_utc_with_any_fraction() -> None:
    assert coinbase_time_parse("2023-02-09T20:32:50.714964855Z") == datetime(2023, 2, 9, 20, 32, 50, 714964, UTC)
    assert coinbase_time_parse("2023-07-04T18:14:39Z") == datetime(2023, 7, 4, 18, 14, 39, tzinfo=UTC)
    assert coinbase_time_parse("2023-07-04T18:14:39.5Z") == datetime(2023, 7, 4, 18, 14, 39, 500000, UTC)
    for bad in ("2023-07-04T18:14:39", "2023-07-04T18:14:39.x5Z", 1688494479, "yesterdayZ"):
        with pytest.raises(BookDataError):
            coinbase_time_parse(bad)


# --- Advanced Trade, in the documented shape (no recording exists) ----------------------------------------------


def l2_data(sequence_num: int, *events: dict[str, Any]) -> dict[str, Any]:
    return {
        "channel": "l2_data",
        "client_id": "",
        "timestamp": "2023-02-09T20:32:50.714964855Z",
        "sequence_num": sequence_num,
        "events": list(events),
    }


def event(kind: str, product_id: str, *levels: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "type": kind,
        "product_id": product_id,
        "updates": [
            {"side": side, "event_time": "2023-02-09T20:32:50.714964855Z", "price_level": price, "new_quantity": size}
            for side, price, size in levels
        ],
    }


BTC_SNAPSHOT = event(
    "snapshot", "BTC-USD", ("bid", "21921.73", "0.5"), ("bid", "21921.70", "1"), ("offer", "21922.00", "2")
)
ETH_SNAPSHOT = event("snapshot", "ETH-USD", ("bid", "1600.10", "3"), ("offer", "1600.50", "4"))


def connection_synced() -> AdvancedTradeConnection:
    connection = AdvancedTradeConnection(["BTC-USD", "ETH-USD"])
    assert connection.on_message({"channel": "subscriptions", "sequence_num": 0, "events": []}) == {}
    assert {p: a.kind for p, a in connection.on_message(l2_data(1, BTC_SNAPSHOT, ETH_SNAPSHOT)).items()} == {
        "BTC-USD": ActionKind.APPLIED,
        "ETH-USD": ActionKind.APPLIED,
    }
    return connection


def test_updates_after_a_snapshot_give_the_exact_book() -> None:
    connection = connection_synced()

    actions = connection.on_message(
        l2_data(2, event("update", "BTC-USD", ("bid", "21921.73", "0"), ("offer", "21921.90", "0.25")))
    )

    assert {p: a.kind for p, a in actions.items()} == {"BTC-USD": ActionKind.APPLIED}
    assert book_levels(connection.products["BTC-USD"].book) == (
        [(Decimal("21921.70"), Decimal(1))],
        [(Decimal("21921.90"), Decimal("0.25")), (Decimal("21922.00"), Decimal(2))],
    )


def test_a_sequence_gap_on_any_channel_drops_every_book_and_snapshots_restore_them() -> None:
    connection = connection_synced()
    assert connection.on_message({"channel": "heartbeats", "sequence_num": 2, "events": []}) == {}

    actions = connection.on_message({"channel": "heartbeats", "sequence_num": 4, "events": []})  # 3 was lost

    assert {p: (a.kind, a.reason) for p, a in actions.items()} == {
        "BTC-USD": (ActionKind.RESYNC, ResyncReason.SEQUENCE_GAP),
        "ETH-USD": (ActionKind.RESYNC, ResyncReason.SEQUENCE_GAP),
    }
    assert connection.gaps == 1
    assert all(sync.book is None for sync in connection.products.values())
    # Updates before the new snapshots are dropped; the resubscription's snapshots bring each book back.
    stale = connection.on_message(l2_data(5, event("update", "ETH-USD", ("bid", "1600.20", "1"))))
    assert {p: a.kind for p, a in stale.items()} == {"ETH-USD": ActionKind.DROPPED_STALE}
    restored = connection.on_message(l2_data(6, ETH_SNAPSHOT))
    assert {p: a.kind for p, a in restored.items()} == {"ETH-USD": ActionKind.APPLIED}
    assert book_top(connection.products["ETH-USD"].book) == (
        Decimal("1600.10"),
        Decimal(3),
        Decimal("1600.50"),
        Decimal(4),
    )
    assert connection.products["BTC-USD"].book is None


def test_a_repeated_sequence_num_is_dropped_and_changes_nothing() -> None:
    connection = connection_synced()
    before = book_levels(connection.products["BTC-USD"].book)

    actions = connection.on_message(l2_data(1, event("update", "BTC-USD", ("bid", "21921.75", "9"))))

    assert {p: a.kind for p, a in actions.items()} == {"BTC-USD": ActionKind.DROPPED_STALE}
    assert book_levels(connection.products["BTC-USD"].book) == before
    assert connection.sequence_num == 1


def test_a_snapshot_replaces_the_whole_book() -> None:
    connection = connection_synced()

    connection.on_message(
        l2_data(2, event("snapshot", "BTC-USD", ("bid", "20000.00", "1"), ("offer", "20001.00", "1")))
    )

    assert book_levels(connection.products["BTC-USD"].book) == (
        [(Decimal("20000.00"), Decimal(1))],
        [(Decimal("20001.00"), Decimal(1))],
    )
    assert connection.products["BTC-USD"].counters.snapshots_applied == 2


def test_a_crossed_or_corrupted_update_drops_only_that_products_book() -> None:
    connection = connection_synced()

    actions = connection.on_message(
        l2_data(
            2,
            event("update", "BTC-USD", ("bid", "21922.00", "1")),
            event("update", "ETH-USD", ("offer", "1600.60", "lots")),
        )
    )

    assert {p: (a.kind, a.reason) for p, a in actions.items()} == {
        "BTC-USD": (ActionKind.RESYNC, ResyncReason.CROSSED_BOOK),
        "ETH-USD": (ActionKind.RESYNC, ResyncReason.BAD_NUMBER),
    }
    assert connection.on_message(l2_data(3, event("update", "SOL-USD", ("bid", "1", "1")))) == {}


def test_an_update_before_any_snapshot_asks_for_one() -> None:
    connection = AdvancedTradeConnection(["BTC-USD"])

    first = connection.on_message(l2_data(0, event("update", "BTC-USD", ("bid", "1", "1"))))
    second = connection.on_message(l2_data(1, event("update", "BTC-USD", ("bid", "1", "2"))))

    assert (first["BTC-USD"].kind, second["BTC-USD"].kind) == (ActionKind.NEED_SNAPSHOT, ActionKind.DROPPED_STALE)
    assert connection.products["BTC-USD"].book is None


def test_a_resync_and_a_repairing_snapshot_in_one_message_leave_the_book_synced() -> None:
    connection = connection_synced()

    actions = connection.on_message(
        l2_data(2, event("update", "BTC-USD", ("offer", "21921.00", "1")), BTC_SNAPSHOT, event("update", "BTC-USD"))
    )

    assert actions["BTC-USD"].kind is ActionKind.APPLIED
    assert connection.products["BTC-USD"].counters.resyncs == {ResyncReason.CROSSED_BOOK: 1}
    assert connection.products["BTC-USD"].synced


def test_a_resync_stays_visible_when_later_events_of_the_same_message_are_dropped() -> None:
    connection = connection_synced()

    actions = connection.on_message(
        l2_data(
            2,
            event("update", "BTC-USD", ("offer", "21921.00", "1")),
            event("update", "BTC-USD", ("bid", "21921.10", "1")),
        )
    )

    assert (actions["BTC-USD"].kind, actions["BTC-USD"].reason) == (ActionKind.RESYNC, ResyncReason.CROSSED_BOOK)
    assert connection.products["BTC-USD"].book is None


def test_removals_are_checked_change_by_change_within_a_message() -> None:
    sync = CoinbaseExchangeBookSync("X-USD")
    sync.on_message({"type": "snapshot", "product_id": "X-USD", "bids": [["0.5", "1"]], "asks": [["0.9", "1"]]})

    action = sync.on_message(
        {
            "type": "l2update",
            "product_id": "X-USD",
            "changes": [["buy", "0.6", "2"], ["buy", "0.6", "0"], ["sell", "0.8", "0"]],
            "time": "2021-04-17T16:43:37.089402Z",
        }
    )

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.UNKNOWN_LEVEL)
    assert action.detail == "X-USD removes ASK 0.8, a level the book does not hold"
