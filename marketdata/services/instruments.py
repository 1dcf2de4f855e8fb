"""Instruments: a venue's market list upserted, and the operator's choice of which markets beat keeps current.

:class:`InstrumentNotFound` is what every writer keyed by an instrument id raises when there is no such row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from hftplatform.core.utc import utc_aware
from marketdata.core.intervals import interval_get
from marketdata.core.rest import InstrumentInfo
from marketdata.core.venues import (
    VENUE_MARKET_TYPES,
    SymbolError,
    Venue,
    unified_symbol_market_type,
    unified_symbol_split,
    venue_symbol_default,
)
from marketdata.models import Instrument

# Plain decimal text only: PostgreSQL would accept '1E-8', ' 1' or '.5' but print them back differently.
_PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")  # ASCII digits: NUMERIC takes no others


class InstrumentNotFound(LookupError):
    """No instrument with that id (klines have no foreign key, so the service checks)."""


def instrument_upsert_many(*, infos: Sequence[InstrumentInfo]) -> int:
    """Insert or update instruments from a venue's market list, keyed by (exchange, unified symbol); returns how
    many were upserted. ``tracked`` and its intervals belong to the operator and are left alone."""
    instruments = []
    for info in infos:
        if info.listed_at is not None:
            utc_aware(info.listed_at, what=f"{info.symbol}: listed_at")
        for text in (info.tick_size, info.lot_size):
            if not _PLAIN_DECIMAL.match(text):
                raise ValueError(f"{info.symbol}: {text!r} is not plain decimal text")
        instruments.append(
            Instrument(
                exchange=info.venue.value,
                market_type=info.market_type.value,
                symbol=info.symbol,
                venue_symbol=info.venue_symbol,
                base=info.base,
                quote=info.quote,
                settle=info.settle,
                tick_size=info.tick_size,
                lot_size=info.lot_size,
                listed_at=info.listed_at,
                active=info.active,
            )
        )
    with transaction.atomic():
        Instrument.objects.bulk_create(
            instruments,
            update_conflicts=True,
            unique_fields=["exchange", "symbol"],
            update_fields=[
                "market_type",
                "venue_symbol",
                "base",
                "quote",
                "settle",
                "tick_size",
                "lot_size",
                "listed_at",
                "active",
                "updated",
            ],
        )
    return len(instruments)


def instrument_set_tracked(*, instrument_id: int, tracked: bool, intervals: Sequence[str] = ()) -> None:
    """Mark a market as kept current by beat for ``intervals`` (platform codes), or stop tracking it."""
    codes = [interval_get(code).code for code in dict.fromkeys(intervals)]
    if tracked and not codes:
        raise ValueError("a tracked instrument needs at least one interval")
    with transaction.atomic():
        updated = Instrument.objects.filter(pk=instrument_id).update(
            tracked=tracked, tracked_intervals=codes if tracked else [], updated=timezone.now()
        )
    if not updated:
        raise InstrumentNotFound(f"no instrument with id {instrument_id}")


def instrument_create_from_symbol(*, exchange: str, symbol: str, tick_size: str, lot_size: str) -> Instrument:
    """An instrument the venue's market list has not supplied (an offline import): built from the unified symbol,
    with the venue's symbol by its convention and the given steps. A later market-list load overwrites these
    fields (:func:`instrument_upsert_many` keys by exchange and symbol). Raises ``ValueError`` for a symbol or a
    market type the venue does not have, or steps that are not plain positive decimal text."""
    venue = Venue(exchange)
    try:
        base, quote, settle = unified_symbol_split(symbol)
    except SymbolError as error:
        raise ValueError(str(error)) from None
    market_type = unified_symbol_market_type(symbol)
    if market_type not in VENUE_MARKET_TYPES[venue]:
        raise ValueError(f"{venue.value} has no {market_type.value} markets here")
    for text in (tick_size, lot_size):
        if not _PLAIN_DECIMAL.match(text) or not Decimal(text) > 0:
            raise ValueError(f"{text!r} is not a positive plain decimal step")
    canonical = symbol.upper()
    return Instrument.objects.create(
        exchange=venue.value,
        market_type=market_type.value,
        symbol=canonical,
        venue_symbol=venue_symbol_default(venue, canonical),
        base=base,
        quote=quote,
        settle=settle,
        tick_size=tick_size,
        lot_size=lot_size,
    )
