"""Instruments: a venue's market list upserted, and the operator's choice of which markets beat keeps current.

:class:`InstrumentNotFound` is what every writer keyed by an instrument id raises when there is no such row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from hftplatform.core.utc import utc_aware
from marketdata.core.intervals import interval_get
from marketdata.core.rest import InstrumentInfo
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
