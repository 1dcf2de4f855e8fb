"""Coinbase ``level2``: one product's book from the Exchange feed, and from the Advanced Trade feed.

**Exchange feed** (``wss://ws-feed.exchange.coinbase.com``, formerly ``ws-feed.pro.coinbase.com``): subscribing
sends ``{"type": "snapshot", "product_id", "bids": [[price, size]], "asks": ...}`` and then
``{"type": "l2update", "product_id", "changes": [["buy"|"sell", price, size]], "time"}``. There are no sequence
numbers, so a lost message cannot be seen directly. What can be checked is checked, each a RESYNC:

* ``time`` must not go backwards (two updates applied out of order);
* the channel is full depth, so a size of zero for a price the book does not hold means the update that created
  the level was missed (``strict_removals``; the recorded session has 2,634 removals and none of an unknown level);
* the book must not be crossed after an update.

**Advanced Trade** (``wss://advanced-trade-ws.coinbase.com``, channel ``level2``, messages ``"channel":
"l2_data"``): ``{"sequence_num", "events": [{"type": "snapshot"|"update", "product_id", "updates": [{"side":
"bid"|"offer", "price_level", "new_quantity", "event_time"}]}]}``. ``sequence_num`` counts every message on the
connection, whatever its channel, so :class:`AdvancedTradeConnection` checks it for all of them and a gap drops
every product's book. A snapshot event replaces the product's book.

Either way RESYNC means "resubscribe to level2 for this product (Advanced Trade: reconnect, or resubscribe every
product) and wait for the snapshot"; nothing is published until it arrives. ``new_quantity``/size is the level's
new absolute size, zero removing it. Pure: no Django, no network; prices and sizes are exact ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from orderbook.l2.book import (
    APPLIED,
    DROPPED_STALE,
    Action,
    ActionKind,
    BookDataError,
    L2Book,
    ResyncReason,
    Side,
    SyncCounters,
    decimal_parse,
)

EXCHANGE_SIDES = {"buy": Side.BID, "sell": Side.ASK}
ADVANCED_TRADE_SIDES = {"bid": Side.BID, "offer": Side.ASK}


class CoinbaseMessageError(BookDataError):
    """A level2 message that is not in Coinbase's shape (as opposed to a bad number in it)."""


@dataclass(frozen=True, slots=True)
class LevelChange:
    side: Side
    price: Decimal
    size: Decimal  # the level's new aggregate size; 0 removes it


def _change(side_text: object, price: object, size: object, *, sides: Mapping[str, Side]) -> LevelChange:
    if not isinstance(side_text, str) or side_text not in sides:
        raise CoinbaseMessageError(f"side must be one of {sorted(sides)}, got {side_text!r}")
    if not isinstance(price, str) or not isinstance(size, str):
        raise BookDataError(f"price and size must be decimal strings, got {price!r} and {size!r}")
    price_value = decimal_parse(price, what="price")
    if price_value == 0:
        raise BookDataError(f"price must be positive, got {price!r}")
    return LevelChange(sides[side_text], price_value, decimal_parse(size, what="size"))


def _exchange_side_levels(raw: object, side: str) -> list[LevelChange]:
    if not isinstance(raw, list):
        raise CoinbaseMessageError(f"snapshot {side} is not a list: {raw!r}")
    changes = []
    for entry in raw:
        if not isinstance(entry, list) or len(entry) != 2:
            raise CoinbaseMessageError(f"snapshot level is not [price, size]: {entry!r}")
        changes.append(_change(side, entry[0], entry[1], sides=EXCHANGE_SIDES))
    return changes


def coinbase_time_parse(text: object) -> datetime:
    """Coinbase's ``2021-04-17T16:43:37.089402Z`` (any number of fraction digits, Advanced Trade sends nine)."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise CoinbaseMessageError(f"time is not an ISO 8601 UTC time: {text!r}")
    whole, _, fraction = text[:-1].partition(".")
    if not fraction.isdigit() and fraction:
        raise CoinbaseMessageError(f"time is not an ISO 8601 UTC time: {text!r}")
    try:
        moment = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    except ValueError:
        raise CoinbaseMessageError(f"time is not an ISO 8601 UTC time: {text!r}") from None
    # Below a microsecond is dropped: equal times are allowed, so only the order of distinct microseconds matters.
    return moment.replace(microsecond=int(fraction[:6].ljust(6, "0")) if fraction else 0)


class _ProductBook:
    """A product's book and counters, and the moves both Coinbase feeds share."""

    def __init__(self, product_id: str) -> None:
        self.product_id = product_id
        self.counters = SyncCounters()
        self._book = L2Book()
        self._synced = False
        self._snapshot_asked = False

    @property
    def synced(self) -> bool:
        return self._synced

    @property
    def book(self) -> L2Book | None:
        """The book while in sync, else None: a book that is being rebuilt is never handed out."""
        return self._book if self._synced else None

    def _snapshot_load(self, changes: Iterable[LevelChange]) -> Action:
        self._book.clear()
        for change in changes:
            self._book.apply(change.side, change.price, change.size)
        if self._book.is_crossed():
            self._book.clear()
            self._synced = False
            self._snapshot_asked = True
            self.counters.snapshots_rejected += 1
            return Action.need_snapshot(ResyncReason.CROSSED_BOOK, f"{self.product_id} snapshot is crossed")
        self._synced = True
        self._snapshot_asked = False
        self.counters.snapshots_applied += 1
        return APPLIED

    def _before_snapshot(self) -> Action:
        """An update while no snapshot is loaded: the snapshot to come already contains it."""
        self.counters.dropped_stale += 1
        if not self._snapshot_asked:
            self._snapshot_asked = True
            return Action.need_snapshot(None, f"{self.product_id} update before any snapshot")
        return DROPPED_STALE

    def _changes_apply(self, changes: Iterable[LevelChange], *, strict_removals: bool = False) -> Action:
        for change in changes:
            # Checked change by change: a message may add a level and remove it again.
            if strict_removals and change.size == 0 and self._book.size(change.side, change.price) is None:
                return self.resync(
                    ResyncReason.UNKNOWN_LEVEL,
                    f"{self.product_id} removes {change.side.name} {change.price}, a level the book does not hold",
                )
            self._book.apply(change.side, change.price, change.size)
        if self._book.is_crossed():
            return self.resync(ResyncReason.CROSSED_BOOK, f"{self.product_id} book crossed after an update")
        self.counters.applied += 1
        return APPLIED

    def resync(self, reason: ResyncReason, detail: str) -> Action:
        self._book.clear()
        self._synced = False
        self._snapshot_asked = True
        self.counters.resyncs[reason] += 1
        return Action.resync(reason, detail)


def _reason_for(error: BookDataError) -> ResyncReason:
    return ResyncReason.MALFORMED if isinstance(error, CoinbaseMessageError) else ResyncReason.BAD_NUMBER


class CoinbaseExchangeBookSync(_ProductBook):
    """One product's book from the Exchange feed's ``level2`` channel; see the module docstring."""

    def __init__(self, product_id: str, *, strict_removals: bool = True) -> None:
        super().__init__(product_id)
        self.strict_removals = strict_removals
        self._last_time: datetime | None = None

    def on_message(self, message: object) -> Action:
        if not isinstance(message, Mapping) or message.get("product_id") != self.product_id:
            self.counters.ignored += 1
            return Action.ignored("not this product")
        kind = message.get("type")
        if kind not in ("snapshot", "l2update"):
            self.counters.ignored += 1
            return Action.ignored(f"not a level2 message: {kind!r}")
        try:
            if kind == "snapshot":
                return self._snapshot(message)
            return self._update(message)
        except BookDataError as error:
            if kind == "snapshot":
                self.counters.snapshots_rejected += 1
                self._book.clear()
                self._synced = False
                self._snapshot_asked = True
                return Action.need_snapshot(_reason_for(error), str(error))
            return self.resync(_reason_for(error), str(error))

    def resync(self, reason: ResyncReason, detail: str) -> Action:
        self._last_time = None
        return super().resync(reason, detail)

    def _snapshot(self, message: Mapping[str, object]) -> Action:
        changes = _exchange_side_levels(message.get("bids"), "buy") + _exchange_side_levels(message.get("asks"), "sell")
        self._last_time = None
        return self._snapshot_load(changes)

    def _update(self, message: Mapping[str, object]) -> Action:
        raw_changes = message.get("changes")
        if not isinstance(raw_changes, list):
            raise CoinbaseMessageError(f"changes is not a list: {raw_changes!r}")
        changes = []
        for entry in raw_changes:
            if not isinstance(entry, list) or len(entry) != 3:
                raise CoinbaseMessageError(f"change is not [side, price, size]: {entry!r}")
            changes.append(_change(entry[0], entry[1], entry[2], sides=EXCHANGE_SIDES))
        time = coinbase_time_parse(message.get("time"))
        if not self._synced:
            return self._before_snapshot()
        if self._last_time is not None and time < self._last_time:
            return self.resync(
                ResyncReason.OUT_OF_ORDER, f"{self.product_id} update at {time} after one at {self._last_time}"
            )
        self._last_time = time
        return self._changes_apply(changes, strict_removals=self.strict_removals)


class AdvancedTradeBookSync(_ProductBook):
    """One product's book from Advanced Trade ``l2_data`` events; fed by :class:`AdvancedTradeConnection`."""

    def on_event(self, event: Mapping[str, object]) -> Action:
        """One element of a message's ``events`` for this product."""
        try:
            kind = event.get("type")
            if kind not in ("snapshot", "update"):
                raise CoinbaseMessageError(f"event type is neither snapshot nor update: {kind!r}")
            raw_updates = event.get("updates")
            if not isinstance(raw_updates, list):
                raise CoinbaseMessageError(f"updates is not a list: {raw_updates!r}")
            changes = []
            for entry in raw_updates:
                if not isinstance(entry, Mapping):
                    raise CoinbaseMessageError(f"update is not an object: {entry!r}")
                changes.append(
                    _change(
                        entry.get("side"),
                        entry.get("price_level"),
                        entry.get("new_quantity"),
                        sides=ADVANCED_TRADE_SIDES,
                    )
                )
        except BookDataError as error:
            return self.resync(_reason_for(error), str(error))
        if kind == "snapshot":
            return self._snapshot_load(changes)
        if not self._synced:
            return self._before_snapshot()
        return self._changes_apply(changes)


class AdvancedTradeConnection:
    """One Advanced Trade websocket connection: checks ``sequence_num`` on every message, routes ``l2_data``.

    ``sequence_num`` must rise by exactly one per message. A higher number means messages were lost: every
    product's book is dropped (RESYNC) and counting restarts from that message, so the caller can resubscribe on
    the same connection or reconnect (a new connection is a new :class:`AdvancedTradeConnection`). A number at or
    below the last one is a duplicate or a straggler whose successor was already seen (and its gap acted on): it
    is dropped.
    """

    def __init__(self, product_ids: Iterable[str]) -> None:
        self.products = {product_id: AdvancedTradeBookSync(product_id) for product_id in product_ids}
        self.sequence_num: int | None = None
        self.gaps = 0

    def on_message(self, message: object) -> dict[str, Action]:
        """The action for each product the message concerns (none for heartbeats and other channels)."""
        if not isinstance(message, Mapping):
            return self._resync_all(ResyncReason.MALFORMED, f"message is not an object: {message!r}")
        sequence_num = message.get("sequence_num")
        if isinstance(sequence_num, bool) or not isinstance(sequence_num, int):
            return self._resync_all(ResyncReason.MALFORMED, f"sequence_num is not an integer: {sequence_num!r}")
        previous = self.sequence_num
        if previous is not None and sequence_num <= previous:
            return dict.fromkeys(self._products_in(message), DROPPED_STALE)
        self.sequence_num = sequence_num
        if previous is not None and sequence_num != previous + 1:
            self.gaps += 1
            return self._resync_all(
                ResyncReason.SEQUENCE_GAP, f"sequence_num {sequence_num} after {previous}: messages were lost"
            )
        if message.get("channel") != "l2_data":
            return {}
        events = message.get("events")
        if not isinstance(events, list):
            return self._resync_all(ResyncReason.MALFORMED, f"events is not a list: {events!r}")
        actions: dict[str, Action] = {}
        for event in events:
            product_id = event.get("product_id") if isinstance(event, Mapping) else None
            sync = self.products.get(product_id) if isinstance(product_id, str) else None
            if sync is None:
                continue  # a product this connection does not mirror
            assert isinstance(event, Mapping)
            action = sync.on_event(event)
            earlier = actions.get(sync.product_id)
            # Several events for one product in a message: a resync stays visible unless a later snapshot repaired it.
            if earlier is None or action.kind is not ActionKind.DROPPED_STALE or earlier.kind is ActionKind.APPLIED:
                actions[sync.product_id] = action
        return actions

    def _products_in(self, message: Mapping[str, object]) -> list[str]:
        events = message.get("events")
        if message.get("channel") != "l2_data" or not isinstance(events, list):
            return []
        found = (event.get("product_id") for event in events if isinstance(event, Mapping))
        return [
            product_id
            for product_id in dict.fromkeys(found)
            if isinstance(product_id, str) and product_id in self.products
        ]

    def _resync_all(self, reason: ResyncReason, detail: str) -> dict[str, Action]:
        return {product_id: sync.resync(reason, detail) for product_id, sync in self.products.items()}
