"""What trading costs in a simulation: each venue's fee schedule, slippage, latency, and perpetual funding.

Fee schedules are each venue's published base tier (no volume discount, no fee-token discount); an operator can
override them per run. The fee is charged in the quote asset on the fill's notional.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from strategies.core.intents import Side
from strategies.core.markets import Market, MarketKind

BPS = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    maker: Decimal
    taker: Decimal
    source: str = ""


ZERO_FEES = FeeSchedule(Decimal(0), Decimal(0), "zero")

# Base tiers (regular account, no discount). Coinbase: Coinbase Exchange's lowest tier, the venue the platform's
# Coinbase candles come from.
VENUE_FEES: dict[tuple[str, MarketKind], FeeSchedule] = {
    ("binance", MarketKind.SPOT): FeeSchedule(Decimal("0.001"), Decimal("0.001"), "Binance spot, regular user"),
    ("binance", MarketKind.PERP): FeeSchedule(Decimal("0.0002"), Decimal("0.0005"), "Binance USD-M, regular user"),
    ("bybit", MarketKind.SPOT): FeeSchedule(Decimal("0.001"), Decimal("0.001"), "Bybit spot, non-VIP"),
    ("bybit", MarketKind.PERP): FeeSchedule(Decimal("0.0002"), Decimal("0.00055"), "Bybit derivatives, non-VIP"),
    ("coinbase", MarketKind.SPOT): FeeSchedule(Decimal("0.004"), Decimal("0.006"), "Coinbase Exchange, lowest tier"),
}


class FeeModel(StrEnum):
    VENUE = "venue"
    ZERO = "zero"


class CostError(ValueError):
    """A cost model that cannot be used: unknown venue fees, negative slippage or latency."""


@dataclass(frozen=True)
class CostModel:
    """``fee_model`` venue: :data:`VENUE_FEES` with ``fee_overrides`` on top; zero: no fees. ``slippage_bps`` moves
    every taker fill against the order (buys higher, sells lower). ``latency_ms``: an order decided at ``t`` fills no
    earlier than the first bar opening at or after ``t + latency_ms``. ``funding``: perpetual positions pay or
    receive each funding event the run was given."""

    fee_model: FeeModel = FeeModel.VENUE
    slippage_bps: Decimal = Decimal(0)
    latency_ms: int = 0
    funding: bool = True
    fee_overrides: Mapping[str, FeeSchedule] = field(default_factory=dict)  # by Market.key or venue

    def __post_init__(self) -> None:
        if self.slippage_bps < 0:
            raise CostError("slippage must not be negative")
        if self.latency_ms < 0:
            raise CostError("latency must not be negative")

    def fees(self, market: Market) -> FeeSchedule:
        if self.fee_model is FeeModel.ZERO:
            return ZERO_FEES
        override = self.fee_overrides.get(market.key) or self.fee_overrides.get(market.venue)
        if override is not None:
            return override
        try:
            return VENUE_FEES[(market.venue, market.kind)]
        except KeyError:
            raise CostError(f"no fee schedule for {market.venue} {market.kind.value}; give one") from None

    def taker_price(self, reference: Decimal, side: Side) -> Decimal:
        """The fill price of a market order against ``reference`` (exact: bps are exact decimals)."""
        if not self.slippage_bps:
            return reference
        return reference * (1 + side.sign * self.slippage_bps * BPS)

    def json(self) -> dict[str, object]:
        return {
            "fee_model": self.fee_model.value,
            "slippage_bps": str(self.slippage_bps),
            "latency_ms": self.latency_ms,
            "funding": self.funding,
            "fee_overrides": {k: {"maker": str(v.maker), "taker": str(v.taker)} for k, v in self.fee_overrides.items()},
        }
