"""The venues the platform downloads from, their market types, and unified symbols as ccxt writes them."""

from __future__ import annotations

from enum import StrEnum


class Venue(StrEnum):
    BINANCE = "binance"
    BYBIT = "bybit"
    COINBASE = "coinbase"


class MarketType(StrEnum):
    SPOT = "spot"
    PERP = "perp"  # linear (USDT-margined) perpetual swap: Binance USD-M, Bybit linear


# Which market types each venue serves here (Coinbase: spot products of Coinbase Exchange).
VENUE_MARKET_TYPES: dict[Venue, tuple[MarketType, ...]] = {
    Venue.BINANCE: (MarketType.SPOT, MarketType.PERP),
    Venue.BYBIT: (MarketType.SPOT, MarketType.PERP),
    Venue.COINBASE: (MarketType.SPOT,),
}


class SymbolError(ValueError):
    """A unified symbol that is not ``BASE/QUOTE`` or ``BASE/QUOTE:SETTLE``."""


def unified_symbol(base: str, quote: str, settle: str | None = None) -> str:
    """``BTC/USDT`` for spot, ``BTC/USDT:USDT`` for a linear perpetual settled in USDT (ccxt's notation)."""
    symbol = f"{base.upper()}/{quote.upper()}"
    return f"{symbol}:{settle.upper()}" if settle else symbol


def unified_symbol_split(symbol: str) -> tuple[str, str, str | None]:
    """``BTC/USDT:USDT`` → ``("BTC", "USDT", "USDT")``; ``BTC/USDT`` → ``("BTC", "USDT", None)``."""
    pair, _, settle = symbol.partition(":")
    base, slash, quote = pair.partition("/")
    if not slash or not base or not quote or "/" in quote or (":" in symbol and not settle):
        raise SymbolError(f"not a unified symbol: {symbol!r} (expected BASE/QUOTE or BASE/QUOTE:SETTLE)")
    return base.upper(), quote.upper(), settle.upper() or None


def unified_symbol_market_type(symbol: str) -> MarketType:
    return MarketType.PERP if unified_symbol_split(symbol)[2] else MarketType.SPOT


def venue_symbol_default(venue: Venue, symbol: str) -> str:
    """The venue's own symbol as its convention writes it: ``BTCUSDT`` (Binance, Bybit, spot and perpetual),
    ``BTC-USD`` (Coinbase). For a market whose list could not be loaded; the list, once loaded, has the last word."""
    base, quote, _settle = unified_symbol_split(symbol)
    return f"{base}-{quote}" if venue is Venue.COINBASE else f"{base}{quote}"
