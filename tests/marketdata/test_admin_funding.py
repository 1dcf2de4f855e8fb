"""Operators' view of funding rates and their coverage: read-only lists, written only by the funding service."""

from __future__ import annotations

import pytest

from marketdata import services
from marketdata.core.funding import FundingEvent
from marketdata.core.intervals import HOUR_MS
from marketdata.models import FundingCoverage, FundingRate
from tests.marketdata.factories import InstrumentFactory

pytestmark = pytest.mark.django_db

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


@pytest.fixture
def operator_client(client, operator):  # type: ignore[no-untyped-def]
    client.force_login(operator)
    return client


def test_funding_rates_and_coverage_are_listed_with_utc_times_and_cannot_be_changed(operator_client) -> None:
    perp = InstrumentFactory(
        exchange="bybit", market_type="perp", symbol="BTC/USDT:USDT", venue_symbol="BTCUSDT", base="BTC", settle="USDT"
    )
    events = [FundingEvent(T0, "0.00010000", "42000.5"), FundingEvent(T0 + 8 * HOUR_MS + 3, "-0.00000047")]
    services.funding_rates_store(instrument_id=perp.pk, events=events, covered=[(T0, T0 + 16 * HOUR_MS)])

    rates = operator_client.get("/admin/marketdata/fundingrate/")
    coverage = operator_client.get("/admin/marketdata/fundingcoverage/")
    add = operator_client.get("/admin/marketdata/fundingrate/add/")
    row = FundingRate.objects.get(funding_time=T0)
    delete = operator_client.post(f"/admin/marketdata/fundingrate/{row.pk}/delete/", {"post": "yes"})

    assert rates.status_code == coverage.status_code == 200
    assert rates.context["cl"].result_count == 2
    assert b"2024-01-01T08:00:00.003Z" in rates.content
    assert b"-0.00000047" in rates.content
    assert b"2024-01-01T16:00:00Z" in coverage.content
    assert add.status_code == 403 and delete.status_code == 403
    assert (FundingRate.objects.count(), FundingCoverage.objects.count()) == (2, 1)
