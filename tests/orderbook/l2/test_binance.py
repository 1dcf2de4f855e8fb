"""Binance's diff-depth procedure: the recorded session replayed, faults injected into it, and properties.

Expected books are computed here from the raw JSON with plain dicts, never with :class:`L2Book`, and the venue's
own ``bookTicker`` stream (recorded in the same session) is used as a second, independent witness.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from orderbook.l2.binance import (
    BinanceBookSync,
    DepthSnapshot,
    DepthUpdate,
    depth_snapshot_parse,
    depth_update_parse,
)
from orderbook.l2.book import ActionKind, BookDataError, L2Book, ResyncReason, Side, SyncCounters
from orderbook.l2.captures import Direction, captures_interleave

SYMBOLS = ("NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR")
Top = tuple[Decimal, Decimal, Decimal, Decimal]  # bid price, bid size, ask price, ask size


# --- an independent model: the book as dicts, straight from the JSON ----------------------------------------------


@dataclass
class DictBook:
    bids: dict[Decimal, Decimal]
    asks: dict[Decimal, Decimal]

    @classmethod
    def from_snapshot(cls, payload: dict[str, Any]) -> DictBook:
        return cls(
            {Decimal(p): Decimal(q) for p, q in payload["bids"]}, {Decimal(p): Decimal(q) for p, q in payload["asks"]}
        )

    def apply(self, data: dict[str, Any]) -> None:
        for levels, side in ((data["b"], self.bids), (data["a"], self.asks)):
            for price, size in levels:
                if Decimal(size) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = Decimal(size)

    def top(self) -> Top:
        bid, ask = max(self.bids), min(self.asks)
        return bid, self.bids[bid], ask, self.asks[ask]

    def as_snapshot(self, last_update_id: int) -> dict[str, Any]:
        return {
            "lastUpdateId": last_update_id,
            "bids": [[str(p), str(q)] for p, q in sorted(self.bids.items(), reverse=True)],
            "asks": [[str(p), str(q)] for p, q in sorted(self.asks.items())],
        }


def book_top(book: L2Book | None) -> Top:
    assert book is not None
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    return bid[0], bid[1], ask[0], ask[1]


def book_levels(book: L2Book | None) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    assert book is not None
    return book.levels(Side.BID), book.levels(Side.ASK)


# --- the recorded session ---------------------------------------------------------------------------------------


@dataclass
class Session:
    snapshots: dict[str, dict[str, Any]]  # symbol -> REST payload
    messages: list[dict[str, Any]]  # every websocket message, in arrival order
    order: list[tuple[str, str, int]]  # ("ws", symbol, index into messages) / ("http", symbol, 0), by receive time

    def depth(self, symbol: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["data"].get("e") == "depthUpdate" and m["data"]["s"] == symbol]


@pytest.fixture
def session(l2_captures_dir: Path) -> Session:
    snapshots: dict[str, dict[str, Any]] = {}
    messages: list[dict[str, Any]] = []
    order: list[tuple[str, str, int]] = []
    for record in captures_interleave(l2_captures_dir / "BINANCE.ws.1.0", l2_captures_dir / "BINANCE.http.0.0"):
        if record.direction is Direction.HTTP:
            assert record.url is not None
            symbol = record.url.split("symbol=")[1].split("&")[0]
            snapshots[symbol] = record.payload  # type: ignore[assignment]
            order.append(("http", symbol, 0))
        elif record.direction is Direction.RECEIVED:
            messages.append(record.payload)  # type: ignore[arg-type]
            order.append(("ws", record.payload["data"]["s"], len(messages) - 1))  # type: ignore[index]
    return Session(snapshots, messages, order)


def session_replay(
    session: Session, syncs: dict[str, BinanceBookSync]
) -> tuple[dict[str, list[ActionKind]], dict[tuple[str, int], Top]]:
    """Feed the session in arrival order; the actions per symbol, and the top after each applied event's ``u``."""
    actions: dict[str, list[ActionKind]] = {symbol: [] for symbol in syncs}
    tops: dict[tuple[str, int], Top] = {}
    for kind, symbol, index in session.order:
        sync = syncs[symbol]
        if kind == "http":
            action = sync.on_snapshot_payload(session.snapshots[symbol])
        else:
            action = sync.on_message(session.messages[index])
        actions[symbol].append(action.kind)
        if action.kind is ActionKind.APPLIED:
            assert sync.last_update_id is not None
            tops[(symbol, sync.last_update_id)] = book_top(sync.book)
    return actions, tops


def expected_book(session: Session, symbol: str) -> DictBook:
    """The snapshot with every depth event past its ``lastUpdateId`` applied, in order (the recording has no gap)."""
    snapshot = session.snapshots[symbol]
    book = DictBook.from_snapshot(snapshot)
    for message in session.depth(symbol):
        if message["data"]["u"] > snapshot["lastUpdateId"]:
            book.apply(message["data"])
    return book


def test_the_recorded_session_syncs_all_four_symbols_without_a_resync(session: Session) -> None:
    syncs = {symbol: BinanceBookSync(symbol) for symbol in SYMBOLS}

    actions, _ = session_replay(session, syncs)

    # Every symbol's snapshot arrived after exactly one buffered event, and bridged: all four can be synced.
    assert {symbol: sync.counters for symbol, sync in syncs.items()} == {
        "NKNUSDT": SyncCounters(applied=149, buffered=1, dropped_stale=1, ignored=76, snapshots_applied=1),
        "BLZETH": SyncCounters(applied=9, buffered=1, dropped_stale=1, ignored=1, snapshots_applied=1),
        "LRCBTC": SyncCounters(applied=13, buffered=1, dropped_stale=2, ignored=11, snapshots_applied=1),
        "RUNEEUR": SyncCounters(applied=1, buffered=1, dropped_stale=1, ignored=0, snapshots_applied=1),
    }
    assert all(sync.synced for sync in syncs.values())
    assert all(ActionKind.RESYNC not in kinds for kinds in actions.values())
    # LRCBTC's second event arrived after a snapshot that already covered it: dropped live, not from the buffer.
    assert [kind for kind in actions["LRCBTC"] if kind is not ActionKind.IGNORED][:4] == [
        ActionKind.NEED_SNAPSHOT,
        ActionKind.APPLIED,
        ActionKind.DROPPED_STALE,
        ActionKind.APPLIED,
    ]
    assert {symbol: sync.last_update_id for symbol, sync in syncs.items()} == {
        "NKNUSDT": 499870179,
        "BLZETH": 281916638,
        "LRCBTC": 259345563,
        "RUNEEUR": 15602513,
    }


def test_the_final_books_equal_the_dict_model_of_the_raw_messages(session: Session) -> None:
    syncs = {symbol: BinanceBookSync(symbol) for symbol in SYMBOLS}

    session_replay(session, syncs)

    expected_tops = {
        "NKNUSDT": (Decimal("0.35270000"), Decimal("9602"), Decimal("0.35310000"), Decimal("152")),
        "BLZETH": (Decimal("0.00006547"), Decimal("100"), Decimal("0.00006560"), Decimal("1528")),
        "LRCBTC": (Decimal("0.00000637"), Decimal("2500"), Decimal("0.00000638"), Decimal("2285")),
        "RUNEEUR": (Decimal("6.251"), Decimal("69.3"), Decimal("6.269"), Decimal("69.3")),
    }
    expected_depths = {"NKNUSDT": (614, 994), "BLZETH": (173, 999), "LRCBTC": (176, 1000), "RUNEEUR": (222, 468)}
    for symbol in SYMBOLS:
        model = expected_book(session, symbol)
        assert model.top() == expected_tops[symbol]
        assert book_top(syncs[symbol].book) == expected_tops[symbol]
        bids, asks = book_levels(syncs[symbol].book)
        assert (len(bids), len(asks)) == expected_depths[symbol]
        assert bids == sorted(model.bids.items(), reverse=True)
        assert asks == sorted(model.asks.items())


def test_the_venues_book_ticker_agrees_wherever_it_names_an_applied_update_id(session: Session) -> None:
    syncs = {symbol: BinanceBookSync(symbol) for symbol in SYMBOLS}

    _, tops = session_replay(session, syncs)

    tickers = [m["data"] for m in session.messages if m["stream"].endswith("@bookTicker")]
    witnessed = [
        ((t["s"], t["u"]), (Decimal(t["b"]), Decimal(t["B"]), Decimal(t["a"]), Decimal(t["A"])))
        for t in tickers
        if (t["s"], t["u"]) in tops
    ]
    assert len(tickers) == 84
    assert Counter(key[0] for key, _ in witnessed) == {"NKNUSDT": 19, "LRCBTC": 6, "BLZETH": 1}
    assert [tops[key] for key, _ in witnessed] == [ticker for _, ticker in witnessed]


# --- faults injected into the recorded NKNUSDT stream -----------------------------------------------------------


@pytest.fixture
def nkn(session: Session) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """NKNUSDT's snapshot and its 150 depth messages (the first one predates the snapshot)."""
    return session.snapshots["NKNUSDT"], session.depth("NKNUSDT")


def synced_nkn(snapshot: dict[str, Any], first: dict[str, Any]) -> BinanceBookSync:
    sync = BinanceBookSync("NKNUSDT")
    assert sync.on_message(first).kind is ActionKind.NEED_SNAPSHOT
    assert sync.on_snapshot_payload(snapshot).kind is ActionKind.APPLIED
    return sync


def feed(sync: BinanceBookSync, messages: Iterable[dict[str, Any]]) -> list[ActionKind]:
    return [sync.on_message(message).kind for message in messages]


def model_at(snapshot: dict[str, Any], depth: Sequence[dict[str, Any]], last: int) -> dict[str, Any]:
    """A snapshot as Binance would have served it at update id ``depth[last].u`` (rebuilt from the recording)."""
    book = DictBook.from_snapshot(snapshot)
    for message in depth[1 : last + 1]:
        book.apply(message["data"])
    return book.as_snapshot(depth[last]["data"]["u"])


def test_a_dropped_update_is_a_resync_on_the_very_next_message_and_a_fresh_snapshot_recovers(
    session: Session, nkn: tuple[dict[str, Any], list[dict[str, Any]]]
) -> None:
    snapshot, depth = nkn
    sync = synced_nkn(snapshot, depth[0])

    kinds = feed(sync, depth[1:50] + depth[51:53])

    assert kinds == [ActionKind.APPLIED] * 49 + [ActionKind.RESYNC, ActionKind.BUFFERED]
    assert sync.book is None and sync.last_update_id is None
    assert sync.counters.resyncs == {ResyncReason.SEQUENCE_GAP: 1}
    # The gap's event and its successor are buffered; a snapshot taken at event 55 bridges them.
    assert sync.buffered == 2
    assert sync.on_snapshot_payload(model_at(snapshot, depth, 55)).kind is ActionKind.APPLIED
    assert feed(sync, depth[53:]) == [ActionKind.DROPPED_STALE] * 3 + [ActionKind.APPLIED] * 94
    assert book_levels(sync.book) == book_levels(clean_replay(snapshot, depth).book)


def clean_replay(snapshot: dict[str, Any], depth: list[dict[str, Any]]) -> BinanceBookSync:
    sync = synced_nkn(snapshot, depth[0])
    assert set(feed(sync, depth[1:])) == {ActionKind.APPLIED}
    return sync


def test_two_swapped_updates_resync_when_the_later_one_arrives_first(
    nkn: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    snapshot, depth = nkn
    sync = synced_nkn(snapshot, depth[0])

    kinds = feed(sync, [*depth[1:30], depth[31], depth[30], depth[32]])

    assert kinds == [ActionKind.APPLIED] * 29 + [ActionKind.RESYNC, ActionKind.DROPPED_STALE, ActionKind.BUFFERED]
    assert sync.book is None
    assert sync.counters.resyncs == {ResyncReason.SEQUENCE_GAP: 1}


def test_a_duplicate_update_is_dropped_and_changes_nothing(nkn: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    snapshot, depth = nkn
    sync = synced_nkn(snapshot, depth[0])
    feed(sync, depth[1:40])
    before = book_levels(sync.book)

    kinds = feed(sync, [depth[39], depth[12]])

    assert kinds == [ActionKind.DROPPED_STALE, ActionKind.DROPPED_STALE]
    assert book_levels(sync.book) == before
    assert sync.last_update_id == depth[39]["data"]["u"]
    assert feed(sync, depth[40:]) == [ActionKind.APPLIED] * 110
    assert book_levels(sync.book) == book_levels(clean_replay(snapshot, depth).book)
    assert sync.counters.resyncs == {}


def test_a_snapshot_older_than_the_buffer_is_refused_and_another_requested(
    nkn: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    snapshot, depth = nkn
    # The stream opened late: its first event (U 499869755) is past the recorded snapshot (lastUpdateId 499869752).
    sync = BinanceBookSync("NKNUSDT")
    assert feed(sync, depth[2:5]) == [ActionKind.NEED_SNAPSHOT, ActionKind.BUFFERED, ActionKind.BUFFERED]

    action = sync.on_snapshot_payload(snapshot)

    assert (action.kind, action.reason) == (ActionKind.NEED_SNAPSHOT, ResyncReason.SNAPSHOT_TOO_OLD)
    assert action.detail == "lastUpdateId 499869752 is before the first buffered U 499869755"
    assert sync.book is None and sync.buffered == 3
    assert sync.counters.snapshots_rejected == 1
    # The next snapshot (taken at event 3) is fresh enough: events 2-3 drop as stale, 4 applies from the buffer.
    assert sync.on_snapshot_payload(model_at(snapshot, depth, 3)).kind is ActionKind.APPLIED
    assert sync.counters.dropped_stale == 2 and sync.counters.applied == 1
    assert feed(sync, depth[5:]) == [ActionKind.APPLIED] * 145
    assert book_levels(sync.book) == book_levels(clean_replay(snapshot, depth).book)


def test_a_corrupted_size_is_a_resync_and_the_book_is_not_published(
    nkn: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    snapshot, depth = nkn
    sync = synced_nkn(snapshot, depth[0])
    feed(sync, depth[1:20])
    corrupted = copy.deepcopy(depth[20])
    corrupted["data"]["b"][0][1] = "12O.5"  # a letter O for a zero

    action = sync.on_message(corrupted)

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.BAD_NUMBER)
    assert "12O.5" in action.detail
    assert sync.book is None and sync.buffered == 0
    # The corrupted event is not kept, so the stream after it buffers as a fresh start.
    assert feed(sync, depth[21:23]) == [ActionKind.BUFFERED, ActionKind.BUFFERED]


def test_an_update_that_crosses_the_book_is_a_resync(nkn: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    snapshot, depth = nkn
    sync = synced_nkn(snapshot, depth[0])
    feed(sync, depth[1:60])
    model = DictBook.from_snapshot(snapshot)
    for message in depth[1:60]:
        model.apply(message["data"])
    crossing = copy.deepcopy(depth[60])
    crossing["data"]["b"].append([str(model.top()[2]), "1.00000000"])  # a bid at the best ask

    action = sync.on_message(crossing)

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.CROSSED_BOOK)
    assert sync.book is None


def test_a_malformed_event_is_a_resync_and_other_streams_are_ignored(
    session: Session, nkn: tuple[dict[str, Any], list[dict[str, Any]]]
) -> None:
    snapshot, depth = nkn
    sync = synced_nkn(snapshot, depth[0])
    others = [m for m in session.messages if m["data"].get("e") != "depthUpdate" and m["data"]["s"] == "NKNUSDT"]
    malformed = copy.deepcopy(depth[1])
    del malformed["data"]["U"]

    assert {m["stream"].split("@")[1] for m in others} == {"bookTicker", "kline_1m", "aggTrade"}
    assert set(feed(sync, others)) == {ActionKind.IGNORED}
    assert sync.on_message(session.depth("LRCBTC")[0]).kind is ActionKind.IGNORED
    action = sync.on_message(malformed)
    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.MALFORMED)


def test_a_snapshot_that_no_event_bridges_is_dropped_on_the_first_event(
    nkn: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    snapshot, depth = nkn
    sync = BinanceBookSync("NKNUSDT")
    assert sync.on_snapshot_payload(snapshot).kind is ActionKind.APPLIED  # nothing buffered to check it against

    action = sync.on_message(depth[3])  # U 499869758: events 499869753-57 are missing between the two

    assert (action.kind, action.reason) == (ActionKind.RESYNC, ResyncReason.SNAPSHOT_TOO_OLD)
    assert sync.book is None and sync.buffered == 1


def test_a_second_snapshot_while_in_sync_is_dropped_and_a_crossed_one_refused(
    nkn: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    snapshot, depth = nkn
    sync = synced_nkn(snapshot, depth[0])
    assert sync.on_snapshot_payload(snapshot).kind is ActionKind.DROPPED_STALE

    crossed = copy.deepcopy(snapshot)
    crossed["bids"].insert(0, [crossed["asks"][0][0], "1"])
    fresh = BinanceBookSync("NKNUSDT")
    fresh.on_message(depth[0])
    action = fresh.on_snapshot_payload(crossed)
    assert (action.kind, action.reason) == (ActionKind.NEED_SNAPSHOT, ResyncReason.CROSSED_BOOK)
    assert fresh.book is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"e": "depthUpdate", "s": "X", "U": 2, "u": 1, "b": [], "a": []}, "U 2 is after u 1"),
        ({"e": "depthUpdate", "s": "X", "U": True, "u": 1, "b": [], "a": []}, "U is not a non-negative integer"),
        ({"e": "depthUpdate", "s": "X", "U": 1, "u": 1, "b": [["1"]], "a": []}, "b level is not"),
        ({"e": "depthUpdate", "s": "X", "U": 1, "u": 1, "b": [[1.5, "1"]], "a": []}, "decimal strings"),
        ({"e": "depthUpdate", "s": "X", "U": 1, "u": 1, "b": [], "a": [["0", "1"]]}, "price must be positive"),
        ({"e": "depthUpdate", "s": "X", "U": 1, "u": 1, "b": [], "a": [["1", "-1"]]}, "non-negative"),
        ({"e": "depthUpdate", "s": "X", "U": 1, "u": 1, "b": [], "a": [["1", "NaN"]]}, "finite"),
    ],
)
def test_depth_events_that_cannot_be_applied_are_refused(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(BookDataError, match=message):
        depth_update_parse(payload)


def test_the_combined_stream_wrapper_is_unwrapped_and_other_streams_are_none() -> None:
    data = {"e": "depthUpdate", "s": "X", "U": 5, "u": 7, "b": [["1.10", "2"]], "a": [], "E": 1}

    assert depth_update_parse({"stream": "x@depth@100ms", "data": data}) == depth_update_parse(data)
    assert depth_update_parse(data) == DepthUpdate("X", 5, 7, ((Decimal("1.10"), Decimal(2)),), ())
    assert depth_update_parse({"stream": "x@bookTicker", "data": {"u": 7, "s": "X", "b": "1"}}) is None
    assert depth_snapshot_parse({"lastUpdateId": 7, "bids": [], "asks": [["2", "3"]]}) == DepthSnapshot(
        7, (), ((Decimal(2), Decimal(3)),)
    )


# --- properties: in-order equals a dict model; any single deletion is caught -------------------------------------

PRICES_BID = [f"{i / 100:.2f}" for i in range(1, 21)]  # bids below every ask: a random stream never crosses
PRICES_ASK = [f"{i / 100:.2f}" for i in range(21, 41)]
SIZES = st.sampled_from(["0", "0.5", "1", "2.25", "10", "0.00000001"])


@st.composite
def streams(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A starting book at some id, and 2..25 consecutive depth events after it, ``U`` = previous ``u`` + 1."""
    base = draw(st.integers(0, 10**12))
    snapshot = {
        "lastUpdateId": base,
        "bids": draw(st.lists(st.tuples(st.sampled_from(PRICES_BID), SIZES.filter(lambda s: s != "0")), max_size=8)),
        "asks": draw(st.lists(st.tuples(st.sampled_from(PRICES_ASK), SIZES.filter(lambda s: s != "0")), max_size=8)),
    }
    snapshot["bids"] = [list(level) for level in dict(snapshot["bids"]).items()]
    snapshot["asks"] = [list(level) for level in dict(snapshot["asks"]).items()]
    events = []
    last = base
    for _ in range(draw(st.integers(2, 25))):
        span = draw(st.integers(0, 3))
        events.append(
            {
                "e": "depthUpdate",
                "s": "PROP",
                "U": last + 1,
                "u": last + 1 + span,
                "b": [list(t) for t in draw(st.lists(st.tuples(st.sampled_from(PRICES_BID), SIZES), max_size=4))],
                "a": [list(t) for t in draw(st.lists(st.tuples(st.sampled_from(PRICES_ASK), SIZES), max_size=4))],
            }
        )
        last += 1 + span
    return snapshot, events


def snapshot_after(start: dict[str, Any], events: Sequence[dict[str, Any]], k: int) -> dict[str, Any]:
    book = DictBook.from_snapshot(start)
    for event in events[: k + 1]:
        book.apply(event)
    return book.as_snapshot(events[k]["u"])


def levels_of(book: L2Book | None) -> dict[str, dict[Decimal, Decimal]]:
    bids, asks = book_levels(book)
    return {"bids": dict(bids), "asks": dict(asks)}


@settings(max_examples=200, deadline=None)
@given(stream=streams(), data=st.data())
def test_applying_consecutive_events_in_order_equals_the_dict_model(
    stream: tuple[dict[str, Any], list[dict[str, Any]]], data: st.DataObject
) -> None:
    start, events = stream
    n = len(events)
    k = data.draw(st.integers(0, n - 1), label="snapshot taken after event k")
    m = data.draw(st.integers(1, n), label="events received before the snapshot")
    sync = BinanceBookSync("PROP")

    kinds = [*feed(sync, events[:m]), sync.on_snapshot_payload(snapshot_after(start, events, k)).kind]
    kinds += feed(sync, events[m:])

    model = DictBook.from_snapshot(start)
    for event in events:
        model.apply(event)
    assert kinds[:m] == [ActionKind.NEED_SNAPSHOT] + [ActionKind.BUFFERED] * (m - 1)
    assert kinds[m] is ActionKind.APPLIED
    assert kinds[m + 1 :] == [ActionKind.DROPPED_STALE if i <= k else ActionKind.APPLIED for i in range(m, n)]
    assert (sync.counters.applied, sync.counters.dropped_stale, sync.counters.resyncs) == (n - 1 - k, k + 1, {})
    assert levels_of(sync.book) == {"bids": model.bids, "asks": model.asks}
    assert sync.last_update_id == events[-1]["u"]


@settings(max_examples=200, deadline=None)
@given(stream=streams(), data=st.data())
def test_deleting_any_one_live_event_is_a_resync_on_the_next_message(
    stream: tuple[dict[str, Any], list[dict[str, Any]]], data: st.DataObject
) -> None:
    start, events = stream
    n = len(events)
    k = data.draw(st.integers(0, n - 1), label="snapshot taken after event k")
    m = data.draw(st.integers(1, n), label="events received before the snapshot")
    assume(max(m, k + 1) < n - 1)
    j = data.draw(st.integers(max(m, k + 1), n - 2), label="deleted event")
    sync = BinanceBookSync("PROP")
    feed(sync, events[:m])
    assert sync.on_snapshot_payload(snapshot_after(start, events, k)).kind is ActionKind.APPLIED

    kinds = feed(sync, events[m:j] + events[j + 1 :])

    assert kinds[: j - m] == [ActionKind.DROPPED_STALE if i <= k else ActionKind.APPLIED for i in range(m, j)]
    assert kinds[j - m] is ActionKind.RESYNC
    assert sync.counters.resyncs == {ResyncReason.SEQUENCE_GAP if j > k + 1 else ResyncReason.SNAPSHOT_TOO_OLD: 1}
    assert sync.book is None
    assert set(kinds[j - m + 1 :]) <= {ActionKind.BUFFERED}


@settings(max_examples=300, deadline=None)
@given(stream=streams(), data=st.data())
def test_whatever_one_event_is_lost_a_published_book_is_exact_at_its_id_and_never_past_the_hole(
    stream: tuple[dict[str, Any], list[dict[str, Any]]], data: st.DataObject
) -> None:
    start, events = stream
    n = len(events)
    k = data.draw(st.integers(0, n - 1), label="snapshot taken after event k")
    m = data.draw(st.integers(1, n), label="events received before the snapshot")
    j = data.draw(st.integers(0, n - 1), label="lost event")
    model = DictBook.from_snapshot(start)
    exact_at = {start["lastUpdateId"]: levels_of_model(model)}
    for event in events:
        model.apply(event)
        exact_at[event["u"]] = levels_of_model(model)
    sync = BinanceBookSync("PROP")
    steps: list[dict[str, Any] | None] = [e for i, e in enumerate(events[:m]) if i != j]
    steps += [None]  # the snapshot
    steps += [e for i, e in enumerate(events[m:], start=m) if i != j]

    for step in steps:
        if step is None:
            sync.on_snapshot_payload(snapshot_after(start, events, k))
        else:
            sync.on_message(step)
        if sync.book is not None:
            assert sync.last_update_id is not None
            assert levels_of(sync.book) == exact_at[sync.last_update_id]
            if j > k:
                assert sync.last_update_id < events[j]["u"]

    if j < k:
        # The snapshot already holds what the lost event did: nothing is missing, the end book is exact.
        assert sync.last_update_id == events[-1]["u"]
    if j > k and j < n - 1:
        # A later event reveals the hole: the book is not published, whatever phase the loss happened in.
        assert sync.book is None


def levels_of_model(model: DictBook) -> dict[str, dict[Decimal, Decimal]]:
    return {"bids": dict(model.bids), "asks": dict(model.asks)}


def test_a_hole_among_buffered_events_restarts_the_buffer_so_an_older_snapshot_is_refused(
    nkn: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    snapshot, depth = nkn
    sync = BinanceBookSync("NKNUSDT")

    kinds = feed(sync, [depth[0], depth[2], depth[3]])  # depth[1] (U 499869753) never arrives
    action = sync.on_snapshot_payload(snapshot)  # lastUpdateId 499869752: the hole is after it

    assert kinds == [ActionKind.NEED_SNAPSHOT, ActionKind.BUFFERED, ActionKind.BUFFERED]
    assert (action.kind, action.reason) == (ActionKind.NEED_SNAPSHOT, ResyncReason.SNAPSHOT_TOO_OLD)
    assert action.detail == "lastUpdateId 499869752 is before the first buffered U 499869755"
    assert sync.buffered == 2 and sync.book is None
