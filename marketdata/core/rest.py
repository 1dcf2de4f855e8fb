"""What the venue-specific payload modules share: a REST request to make, an instrument, a venue's error.

The venue modules (``marketdata.core.binance``, ``.bybit``, ``.coinbase``) build requests and parse responses;
they never do I/O. The clients in ``marketdata.exchanges`` send the requests and honour the rate limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from marketdata.core.venues import MarketType, Venue


@dataclass(frozen=True, slots=True)
class RestRequest:
    path: str  # appended to the venue's base URL (a setting), e.g. "/api/v3/klines"
    params: dict[str, str] = field(default_factory=dict)
    weight: int = 1  # what the request costs against the venue's limit (Binance request weight; 1 elsewhere)


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    venue: Venue
    market_type: MarketType
    symbol: str  # unified, as ccxt writes it: BTC/USDT, BTC/USDT:USDT
    venue_symbol: str  # BTCUSDT, BTC-USD
    base: str
    quote: str
    settle: str | None
    tick_size: str  # exact decimal text
    lot_size: str  # exact decimal text (the quantity step)
    listed_at: datetime | None  # UTC; None where the venue does not say
    active: bool


class VenueError(Exception):
    """An error answer from a venue, parsed from its body: ``status`` is HTTP, ``code`` the venue's own code."""

    def __init__(self, venue: Venue, status: int, code: str, message: str):
        super().__init__(f"{venue} HTTP {status} [{code}]: {message}")
        self.venue = venue
        self.status = status
        self.code = code
        self.message = message


class PayloadError(ValueError):
    """A response that is not in the venue's documented shape. Bad data: never retried."""
