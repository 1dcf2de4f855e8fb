"""Which market on which venue: ``--exchanges binance,coinbase,bybit`` with ``--symbol BTC/USDT`` (the same
unified symbol everywhere), or explicit ``venue:SYMBOL`` entries for venues that quote the market differently
(``binance:BTC/USDT,coinbase:BTC/USD``: Coinbase's dollar book against the others' USDT books). Both mix:
``--symbol BTC/USDT --exchanges binance,bybit,coinbase:BTC/USD``."""

from __future__ import annotations

from marketdata.core.venues import SymbolError, Venue, unified_symbol_split


class MarketSpecError(ValueError):
    """A venue the platform does not know, a bad symbol, a venue twice, or no symbol for a venue."""


def leadlag_markets_parse(exchanges: str, symbol: str | None = None) -> list[tuple[str, str]]:
    """``"binance,coinbase:BTC/USD"`` (+ default symbol) → ``[("binance", "BTC/USDT"), ("coinbase", "BTC/USD")]``."""
    markets: list[tuple[str, str]] = []
    for entry in (e.strip() for e in exchanges.split(",")):
        if not entry:
            continue
        venue, _, own = entry.partition(":")
        venue = venue.strip().lower()
        if venue not in {v.value for v in Venue}:
            raise MarketSpecError(f"unknown exchange {venue!r}; known: {', '.join(v.value for v in Venue)}")
        chosen = (own or symbol or "").strip().upper()
        if not chosen:
            raise MarketSpecError(f"no symbol for {venue}: give --symbol or write {venue}:BASE/QUOTE")
        try:
            unified_symbol_split(chosen)
        except SymbolError as error:
            raise MarketSpecError(str(error)) from None
        if any(v == venue for v, _ in markets):
            raise MarketSpecError(f"{venue} appears twice")
        markets.append((venue, chosen))
    if len(markets) < 2:
        raise MarketSpecError("a lead-lag analysis needs at least two exchanges")
    return markets
