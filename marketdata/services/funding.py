"""Funding rates of perpetuals and their coverage: events stored together with the window the venue answered for.

The writer locks the instrument row first (``FOR NO KEY UPDATE``), the same lock order as the kline writers. One
transaction per store: events and the coverage that vouches for them commit together, so an interruption leaves
nothing half-recorded and a re-run resumes from coverage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from marketdata.core.decimal_text import decimal_parse
from marketdata.core.funding import FundingEvent, funding_events_check
from marketdata.core.gaps import Range, ranges_merge
from marketdata.core.venues import MarketType
from marketdata.models import FundingCoverage, FundingRate, Instrument
from marketdata.services.instruments import InstrumentNotFound


class NotPerpetual(ValueError):
    """Funding rates belong to perpetuals; the instrument is a spot market."""


@dataclass(frozen=True, slots=True)
class FundingStoreResult:
    written: int  # events inserted
    present: int  # events already stored at that time, left unchanged


def _perpetual_lock(instrument_id: int) -> None:
    market_type = (
        Instrument.objects.select_for_update(no_key=True)
        .filter(pk=instrument_id)
        .values_list("market_type", flat=True)
        .first()
    )
    if market_type is None:
        raise InstrumentNotFound(f"no instrument with id {instrument_id}")
    if market_type != MarketType.PERP.value:
        raise NotPerpetual(f"instrument {instrument_id} is a {market_type} market: funding rates are for perpetuals")


def _coverage_merge(instrument_id: int, start_ms: int, end_ms: int) -> None:
    """Merge ``[start_ms, end_ms)`` with the ranges it overlaps or touches (the caller holds the instrument lock)."""
    touching = list(
        FundingCoverage.objects.filter(instrument_id=instrument_id, start_ms__lte=end_ms, end_ms__gte=start_ms)
    )
    lo = min([start_ms, *(row.start_ms for row in touching)])
    hi = max([end_ms, *(row.end_ms for row in touching)])
    if len(touching) == 1 and (touching[0].start_ms, touching[0].end_ms) == (lo, hi):
        return
    FundingCoverage.objects.filter(pk__in=[row.pk for row in touching]).delete()
    FundingCoverage.objects.create(instrument_id=instrument_id, start_ms=lo, end_ms=hi)


def funding_rates_store(
    *, instrument_id: int, events: Sequence[FundingEvent], covered: Sequence[Range] = ()
) -> FundingStoreResult:
    """Store funding events (ms UTC, exact decimal text) of a perpetual and, in the same transaction, add ``covered``
    — half-open windows in ms the venue was asked for and answered — to its funding coverage.

    A new event is inserted; an event already stored at that time is left as it is ("present"). Events out of order,
    a non-decimal rate, an empty window or a spot instrument raise before anything is written.
    """
    events = funding_events_check(sorted(events, key=lambda e: e.time_ms), -(2**63), 2**63 - 1)
    rows = [
        FundingRate(
            instrument_id=instrument_id,
            funding_time=event.time_ms,
            rate=event.rate_decimal,
            mark_price=None if event.mark_price is None else decimal_parse(event.mark_price),
        )
        for event in events
    ]
    for start_ms, end_ms in covered:
        if start_ms >= end_ms:
            raise ValueError(f"empty coverage window [{start_ms}, {end_ms})")
    with transaction.atomic():
        _perpetual_lock(instrument_id)
        present: set[int] = set()
        if rows:
            present = set(
                FundingRate.objects.filter(
                    instrument_id=instrument_id, funding_time__in=[row.funding_time for row in rows]
                ).values_list("funding_time", flat=True)
            )
            FundingRate.objects.bulk_create([row for row in rows if row.funding_time not in present])
        for start_ms, end_ms in ranges_merge(covered):
            _coverage_merge(instrument_id, start_ms, end_ms)
    return FundingStoreResult(written=len(rows) - len(present), present=len(present))
