"""What a strategy asks for: orders, target positions and protocol actions. The risk layer checks each one; a venue
adapter carries out what passes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from strategies.core.markets import Market


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"  # taker, at the next price the venue gives, with slippage
    LIMIT = "limit"  # maker, filled only when the market trades through the limit


class IntentError(ValueError):
    """An intent that cannot mean anything: no size, a negative quantity, a limit order without a price."""


@dataclass(frozen=True, slots=True)
class Order:
    """Buy or sell ``quantity`` of the base asset; or, for a buy, spend ``quote_amount`` of the quote asset in all
    (price, slippage and fee included), which is how "all cash" is said exactly."""

    market: Market
    side: Side
    quantity: Decimal | None = None
    quote_amount: Decimal | None = None
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    reduce_only: bool = False
    tag: str = ""

    def __post_init__(self) -> None:
        if (self.quantity is None) == (self.quote_amount is None):
            raise IntentError("an order has a quantity or a quote amount, not both or neither")
        if self.quantity is not None and not self.quantity > 0:
            raise IntentError(f"order quantity must be positive, got {self.quantity}")
        if self.quote_amount is not None:
            if self.side is not Side.BUY:
                raise IntentError("only a buy can be sized by quote amount")
            if not self.quote_amount > 0:
                raise IntentError(f"quote amount must be positive, got {self.quote_amount}")
        if (self.order_type is OrderType.LIMIT) != (self.limit_price is not None):
            raise IntentError("a limit order needs a limit price, and only a limit order has one")
        if self.limit_price is not None and not self.limit_price > 0:
            raise IntentError("limit price must be positive")


@dataclass(frozen=True, slots=True)
class TargetPosition:
    """Trade ``market`` to a position of ``quantity`` base units (signed: negative is short, perpetuals only)."""

    market: Market
    quantity: Decimal
    tag: str = ""


@dataclass(frozen=True, slots=True)
class ProtocolAction:
    """An on-chain protocol step (Aave supply/borrow, a GMX order, a swap) for that family's adapter."""

    family: str
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    tag: str = ""


Intent = Order | TargetPosition | ProtocolAction
