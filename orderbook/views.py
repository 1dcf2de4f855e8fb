"""The depth-chart page of one market: cumulative bids and asks across venues, live over the websocket."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from marketdata.core.venues import SymbolError, unified_symbol_split
from orderbook.live.snapshots import market_slug, market_unslug


def depth_chart(request: HttpRequest, market: str) -> HttpResponse:
    symbol = market_unslug(market)
    try:
        unified_symbol_split(symbol)
    except SymbolError:
        raise Http404(f"not a market symbol: {market!r}") from None
    return render(request, "orderbook/depth.html", {"symbol": symbol, "market": market_slug(symbol)})
