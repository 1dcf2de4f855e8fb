"""The pure-Python reference engine: QuantCup 1 semantics, written for clarity; the compiled engine must agree.

- Prices are integer ticks 1..65535; sizes positive integers; sides BUY (0) and SELL (1).
- ``limit`` returns ids 1, 2, 3… in submission order; an order that fills on arrival still takes an id.
- Strict price-time priority: the best price first, then the earliest order at that price. A partially filled
  resting order keeps its place; the incoming remainder rests at its own limit price.
- Each fill reports two executions, the buyer's then the seller's, at the same price and size. The price is the
  resting order's (``maker``, the default, as exchanges do) or the incoming order's limit (``aggressor``, which
  the original winning engine reports).
- ``cancel(id)`` of an unknown, filled, cancelled or not-yet-issued id does nothing; a later order that
  receives that id is not cancelled.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

BUY = 0
SELL = 1
MIN_PRICE = 1
MAX_PRICE = 65535
# Sizes are 64-bit in the compiled engine; both engines refuse larger ones.
MAX_SIZE = 2**63 - 1
PRICE_RULES = ("maker", "aggressor")

# (trader, side, price, size): one side of a fill.
Execution = tuple[str, int, int, int]


class OrderRejected(ValueError):
    """An order outside the engine's domain: a side other than 0/1, a price outside 1..65535, a size outside
    1..2**63-1, or any of them not an integer. A rejected order takes no id and changes nothing."""


@dataclass(slots=True)
class RestingOrder:
    order_id: int
    trader: str
    size: int


# (side, price, ((order id, trader, size), ...)): one price level of the book, orders in time priority.
BookLevel = tuple[int, int, tuple[tuple[int, str, int], ...]]


def order_check(side: object, price: object, size: object) -> None:
    for name, value in (("side", side), ("price", price), ("size", size)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise OrderRejected(f"{name} must be an integer, got {value!r}")
    assert isinstance(side, int) and isinstance(price, int) and isinstance(size, int)
    if side not in (BUY, SELL):
        raise OrderRejected(f"side must be 0 (buy) or 1 (sell), got {side}")
    if not MIN_PRICE <= price <= MAX_PRICE:
        raise OrderRejected(f"price must be an integer tick in {MIN_PRICE}..{MAX_PRICE}, got {price}")
    if not 1 <= size <= MAX_SIZE:
        raise OrderRejected(f"size must be in 1..{MAX_SIZE}, got {size}")


class ReferenceEngine:
    def __init__(self, price_rule: str = "maker") -> None:
        if price_rule not in PRICE_RULES:
            raise ValueError(f"price_rule must be one of {PRICE_RULES}, got {price_rule!r}")
        self.aggressor_price = price_rule == "aggressor"
        self.levels: list[dict[int, deque[RestingOrder]]] = [{}, {}]  # per side: price -> FIFO queue
        self.live: dict[int, RestingOrder] = {}
        self.next_id = 1
        self.executions: list[Execution] = []

    def limit(self, trader: str, side: int, price: int, size: int) -> int:
        order_check(side, price, size)
        order_id = self.next_id
        self.next_id += 1
        opposite = self.levels[1 - side]
        while size and opposite:
            best = max(opposite) if side == SELL else min(opposite)
            if (side == BUY and best > price) or (side == SELL and best < price):
                break
            queue = opposite[best]
            resting = queue[0]
            fill = min(size, resting.size)
            at = price if self.aggressor_price else best
            if side == BUY:
                self.executions += [(trader, BUY, at, fill), (resting.trader, SELL, at, fill)]
            else:
                self.executions += [(resting.trader, BUY, at, fill), (trader, SELL, at, fill)]
            size -= fill
            resting.size -= fill
            if resting.size == 0:
                queue.popleft()
                del self.live[resting.order_id]
                if not queue:
                    del opposite[best]
        if size:
            order = RestingOrder(order_id, trader, size)
            self.levels[side].setdefault(price, deque()).append(order)
            self.live[order_id] = order
        return order_id

    def cancel(self, order_id: int) -> None:
        order = self.live.pop(order_id, None)
        if order is None:
            return
        for side in (BUY, SELL):
            for price, queue in self.levels[side].items():
                if order in queue:
                    queue.remove(order)
                    if not queue:
                        del self.levels[side][price]
                    return

    def take_executions(self) -> list[Execution]:
        executions, self.executions = self.executions, []
        return executions

    def book(self) -> list[BookLevel]:
        """Resting orders: bids from the highest price down, then asks from the lowest up."""
        return [
            (side, price, tuple((order.order_id, order.trader, order.size) for order in self.levels[side][price]))
            for side, prices in ((BUY, sorted(self.levels[BUY], reverse=True)), (SELL, sorted(self.levels[SELL])))
            for price in prices
        ]
