"""Markets a strategy trades or watches: a venue and a unified symbol (``BTC/USDT``, ``BTC/USDT:USDT``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MarketKind(StrEnum):
    SPOT = "spot"
    PERP = "perp"  # linear perpetual: PnL and margin in the settle asset, funding every few hours


@dataclass(frozen=True, slots=True, order=True)
class Market:
    venue: str
    symbol: str

    @property
    def key(self) -> str:
        return f"{self.venue}:{self.symbol}"

    @property
    def kind(self) -> MarketKind:
        return MarketKind.PERP if ":" in self.symbol else MarketKind.SPOT

    @property
    def base(self) -> str:
        return self.symbol.partition("/")[0]

    @property
    def quote(self) -> str:
        """The asset prices are in and, for a perpetual, the asset it settles in."""
        pair, _, settle = self.symbol.partition(":")
        return settle or pair.partition("/")[2]

    def __str__(self) -> str:
        return self.key
