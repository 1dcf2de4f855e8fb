"""Public market pages: the list of markets with coverage and last-close tiles, and a candle chart per market.

A market's URL is ``/markets/<exchange>/<slug>/`` where the slug is the unified symbol with ``/`` written as
``-``: ``BTC/USDT`` → ``BTC-USDT``, ``BTC/USDT:USDT`` → ``BTC-USDT:USDT`` (a colon is a legal path character).
The last ``-`` before any ``:`` is the one turned back into ``/``, so a base asset holding a dash still resolves.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from marketdata import selectors
from marketdata.core.candles import open_time_iso
from marketdata.core.intervals import INTERVALS, VENUE_INTERVALS
from marketdata.core.venues import MarketType, Venue
from marketdata.models import Instrument

MARKETS_PER_PAGE = 100


def market_slug(symbol: str) -> str:
    """``BTC/USDT:USDT`` → ``BTC-USDT:USDT`` (the URL form)."""
    return symbol.replace("/", "-")


def market_symbol(slug: str) -> str:
    """``BTC-USDT:USDT`` → ``BTC/USDT:USDT``; a slug with no dash is returned as is (and matches no market)."""
    pair, colon, settle = slug.partition(":")
    base, dash, quote = pair.rpartition("-")
    return f"{base}/{quote}{colon}{settle}" if dash else slug


@require_GET
def markets(request: HttpRequest) -> HttpResponse:
    """Tracked markets first, then by exchange and symbol; each with its intervals and last close."""
    paginator = Paginator(Instrument.objects.order_by("-tracked", "exchange", "symbol", "id"), MARKETS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    instruments = list(page.object_list)
    coverage = selectors.markets_coverage(instruments=instruments)
    last = selectors.markets_last_close(coverage=coverage, instrument_ids=[m.pk for m in instruments])
    rows = []
    for market in instruments:
        latest = last[market.pk]
        rows.append(
            {
                "market": market,
                "slug": market_slug(market.symbol),
                "coverage": [
                    {
                        "interval": c.interval,
                        "ranges": len(c.ranges),
                        "first": None if c.first_open_ms is None else open_time_iso(c.first_open_ms),
                        "last": None if c.last_open_ms is None else open_time_iso(c.last_open_ms),
                    }
                    for c in coverage[market.pk]
                ],
                "last_interval": latest[0] if latest else None,
                "last": latest[1] if latest else None,
                "last_time": open_time_iso(latest[1].open_time) if latest else None,
            }
        )
    return render(request, "marketdata/markets.html", {"rows": rows, "page": page})


@require_GET
def market_chart(request: HttpRequest, exchange: str, slug: str) -> HttpResponse:
    try:
        market = selectors.instrument_get(exchange=exchange, symbol=market_symbol(slug))
    except (Instrument.DoesNotExist, ValueError):
        raise Http404("no such market") from None
    offered = [
        code for code in INTERVALS if code in VENUE_INTERVALS[(Venue(market.exchange), MarketType(market.market_type))]
    ]
    coverage = selectors.markets_coverage(instruments=[market])[market.pk]
    # The last stored open time per interval: the chart loads the candles that lead up to it.
    last_open = {c.interval: c.last_open_ms for c in coverage if c.last_open_ms is not None}
    asked = request.GET.get("interval", "")
    if asked in offered:
        interval = asked
    else:
        stored = [code for code in offered if code in last_open]
        tracked = [code for code in market.tracked_intervals if code in offered]
        interval = (tracked or stored or offered)[0]
    context = {
        "market": market,
        "slug": market_slug(market.symbol),
        "intervals": offered,
        "interval": interval,
        "last_open": last_open,
        "interval_lengths": {code: INTERVALS[code].length_ms for code in offered},
    }
    return render(request, "marketdata/chart.html", context)
