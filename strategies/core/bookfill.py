"""A market order filled by walking one side of an L2 book (paper mode's fill against a live book).

A buy takes the asks, a sell the bids, best level first, each at its own price, until the order is done or the side
runs out (or reaches ``price_limit``): what the levels hold fills, the rest is reported as ``unfilled``. The fill's
price is the volume-weighted average of the levels taken (``notional / quantity``), and the taker fee comes on top,
charged on the notional: ``fee = notional * taker_rate``.

A quote-amount buy (spend ``quote_amount`` in all, fee included) takes at each level at most what the amount left
buys at ``price * (1 + taker_rate)``; what it cannot spend is ``unfilled``, in the quote asset.

Exact: ``Decimal`` in :data:`~strategies.core.portfolio.ACCOUNTING` (34 significant digits, half-even); the only
rounded numbers are a partly taken level's quantity in a quote-amount buy and the average price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from strategies.core.intents import Side
from strategies.core.portfolio import ACCOUNTING, ZERO

BookLevel = tuple[Decimal, Decimal]  # (price, size in base units)


class BookFillError(ValueError):
    """A book side that cannot be walked (levels out of order, a price or size not positive) or an order that
    cannot mean anything (no size, both sizes, a quote amount on a sell)."""


@dataclass(frozen=True, slots=True)
class BookFill:
    """What walking the book filled. ``quantity`` base units for ``notional`` (``Σ size_i * price_i``) at the
    average ``price``; ``reference`` is the best level's price (the touch, before the walk's slippage); ``fee`` the
    taker fee on the notional; ``unfilled`` what the book could not take, in the order's own unit (base units, or
    the quote asset for a quote-amount buy); ``levels`` how many levels were touched."""

    quantity: Decimal
    notional: Decimal
    price: Decimal
    reference: Decimal
    fee: Decimal
    unfilled: Decimal
    levels: int

    @property
    def filled(self) -> bool:
        return self.quantity > 0

    @property
    def complete(self) -> bool:
        return self.unfilled == 0

    @property
    def slippage(self) -> Decimal:
        """What the walk cost against the touch: ``quantity * |price - reference|``."""
        with localcontext(ACCOUNTING):
            return self.quantity * abs(self.price - self.reference)


def _check_levels(side: Side, levels: Sequence[BookLevel]) -> None:
    previous: Decimal | None = None
    for price, size in levels:
        if not price > 0 or not size > 0:
            raise BookFillError(f"a book level needs a positive price and size, got ({price}, {size})")
        if previous is not None and (price <= previous if side is Side.BUY else price >= previous):
            book = "asks must rise" if side is Side.BUY else "bids must fall"
            raise BookFillError(f"levels are not best first: {book} ({previous} then {price})")
        previous = price


def book_walk(
    *,
    side: Side,
    levels: Sequence[BookLevel],
    taker_rate: Decimal,
    quantity: Decimal | None = None,
    quote_amount: Decimal | None = None,
    price_limit: Decimal | None = None,
) -> BookFill:
    """Fill a market order of ``side`` against ``levels`` — the opposite side of the book (asks for a buy, bids for a
    sell), best first, exact — for ``quantity`` base units, or, a buy only, for ``quote_amount`` in all (fee
    included). ``price_limit`` stops the walk before a level priced worse (above it for a buy, below for a sell).
    Raises :class:`BookFillError` for levels out of order and for an order with no size."""
    if (quantity is None) == (quote_amount is None):
        raise BookFillError("walk the book for a quantity or a quote amount, not both or neither")
    if quantity is not None and not quantity > 0:
        raise BookFillError(f"quantity must be positive, got {quantity}")
    if quote_amount is not None:
        if side is not Side.BUY:
            raise BookFillError("only a buy can be sized by quote amount")
        if not quote_amount > 0:
            raise BookFillError(f"quote amount must be positive, got {quote_amount}")
    if taker_rate < 0:
        raise BookFillError(f"taker rate must not be negative, got {taker_rate}")
    _check_levels(side, levels)
    reference = levels[0][0] if levels else ZERO
    filled = notional = ZERO
    touched = 0
    with localcontext(ACCOUNTING):
        left = quantity if quantity is not None else quote_amount
        assert left is not None
        for price, size in levels:
            if left == 0:
                break
            if price_limit is not None and (price > price_limit if side is Side.BUY else price < price_limit):
                break
            touched += 1
            if quote_amount is None:
                take = min(size, left)
                left -= take
            else:
                unit_cost = price * (1 + taker_rate)
                if size * unit_cost <= left:
                    take = size
                    left -= size * unit_cost
                else:
                    take = left / unit_cost
                    left = ZERO
            filled += take
            notional += take * price
        price = notional / filled if filled else ZERO
        return BookFill(
            quantity=filled,
            notional=notional,
            price=price,
            reference=reference,
            fee=notional * taker_rate,
            unfilled=left,
            levels=touched,
        )
