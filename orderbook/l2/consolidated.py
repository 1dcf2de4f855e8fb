"""The consolidated book of one unified market across venues: each venue's best bid and ask, depth aggregated
by price, and the cross-venue signal when one venue's bid beats another's ask after both taker fees.

Pure and exact: it reads the venues' in-sync :class:`~orderbook.l2.book.L2Book` s (a venue whose mirror is
resyncing contributes nothing) and does all arithmetic in ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from orderbook.l2.book import L2Book, Level, Side


@dataclass(frozen=True, slots=True)
class VenueQuote:
    venue: str
    bid: Level | None
    ask: Level | None


@dataclass(frozen=True, slots=True)
class AggregatedLevel:
    price: Decimal
    size: Decimal
    venues: tuple[tuple[str, Decimal], ...]  # (venue, size) at this price, venues in name order


@dataclass(frozen=True, slots=True)
class CrossVenueSignal:
    """Buy ``size`` on ``buy_venue`` at its ask, sell it on ``sell_venue`` at its bid, both as taker.

    ``edge`` is the net proceeds per unit after both fees: ``bid * (1 - sell fee) - ask * (1 + buy fee)`` (> 0).
    """

    buy_venue: str
    buy_price: Decimal
    sell_venue: str
    sell_price: Decimal
    size: Decimal
    edge: Decimal

    @property
    def profit(self) -> Decimal:
        return self.edge * self.size


class ConsolidatedBook:
    def __init__(self, books: Mapping[str, L2Book | None], taker_fees: Mapping[str, Decimal]) -> None:
        """``books``: venue → its in-sync book, or None while it resyncs. ``taker_fees``: venue → fee rate
        (0.001 is 10 bp); every venue with a book needs one, since a signal without fees is not a signal."""
        missing = sorted(venue for venue in books if venue not in taker_fees)
        if missing:
            raise ValueError(f"no taker fee for {', '.join(missing)}")
        for venue, fee in taker_fees.items():
            if not isinstance(fee, Decimal) or not Decimal(0) <= fee < Decimal(1):
                raise ValueError(f"taker fee for {venue} must be a Decimal in [0, 1), got {fee!r}")
        self._books = {venue: book for venue, book in sorted(books.items()) if book is not None}
        self._fees = dict(taker_fees)

    def quotes(self) -> list[VenueQuote]:
        """Each in-sync venue's best bid and ask, venues in name order."""
        return [VenueQuote(venue, book.best_bid(), book.best_ask()) for venue, book in self._books.items()]

    def best(self, side: Side) -> tuple[Decimal, tuple[str, ...]] | None:
        """The best price across venues on ``side`` and the venues quoting it."""
        quotes = [(venue, book.best(side)) for venue, book in self._books.items()]
        prices = [(venue, level[0]) for venue, level in quotes if level is not None]
        if not prices:
            return None
        best = max(price for _, price in prices) if side == Side.BID else min(price for _, price in prices)
        return best, tuple(venue for venue, price in prices if price == best)

    def levels(self, side: Side, depth: int) -> list[AggregatedLevel]:
        """The best ``depth`` prices on ``side`` across venues, each with its total size and per-venue split."""
        by_price: dict[Decimal, list[tuple[str, Decimal]]] = {}
        for venue, book in self._books.items():
            for price, size in book.levels(side, depth):
                by_price.setdefault(price, []).append((venue, size))
        prices = sorted(by_price, reverse=side == Side.BID)[:depth]
        return [
            AggregatedLevel(price, sum((size for _, size in by_price[price]), Decimal(0)), tuple(by_price[price]))
            for price in prices
        ]

    def signals(self) -> list[CrossVenueSignal]:
        """Every (buy venue, sell venue) pair whose top of book crosses after taker fees: best edge first, ties in
        venue-name order.

        The size is what both tops can fill: the smaller of the ask's and the bid's size.
        """
        found = []
        for buy_venue, buy_book in self._books.items():
            ask = buy_book.best_ask()
            if ask is None:
                continue
            for sell_venue, sell_book in self._books.items():
                bid = sell_book.best_bid()
                if sell_venue == buy_venue or bid is None:
                    continue
                edge = bid[0] * (1 - self._fees[sell_venue]) - ask[0] * (1 + self._fees[buy_venue])
                if edge > 0:
                    found.append(CrossVenueSignal(buy_venue, ask[0], sell_venue, bid[0], min(ask[1], bid[1]), edge))
        return sorted(found, key=lambda signal: (-signal.edge, signal.buy_venue, signal.sell_venue))
