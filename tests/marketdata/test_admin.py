"""Operators' market-data admin: instruments with track/untrack through the service, coverage, gaps, archives,
download jobs with progress; nothing there edits candles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.utils import timezone

from marketdata import services
from marketdata.admin import KlineDownloadJobAdmin
from marketdata.core.candles import Candle
from marketdata.core.intervals import MINUTE_MS
from marketdata.models import Instrument, Kline, KlineArchive, KlineCoverage, KlineDownloadJob
from tests.marketdata.factories import InstrumentFactory

pytestmark = pytest.mark.django_db

T0 = 1_570_752_000_000  # 2019-10-11 00:00:00 UTC
CHANGELIST = "/admin/marketdata/instrument/"


@pytest.fixture
def operator_client(client, operator):  # type: ignore[no-untyped-def]
    client.force_login(operator)
    return client


def candles(minutes: list[int]) -> list[Candle]:
    return [Candle(T0 + m * MINUTE_MS, "1.5", "2", "1", "1.75", "3.25") for m in minutes]


def test_candles_are_not_in_the_admin(operator_client) -> None:
    assert Kline not in admin.site._registry
    assert operator_client.get("/admin/marketdata/kline/").status_code == 404
    assert b"/admin/marketdata/kline/" not in operator_client.get("/admin/").content


def test_instrument_list_filters_and_searches(operator_client) -> None:
    InstrumentFactory(symbol="BTC/USDT", venue_symbol="BTCUSDT", base="BTC")
    InstrumentFactory(exchange="bybit", market_type="perp", symbol="ETH/USDT:USDT", venue_symbol="ETHUSDT", base="ETH")

    everything = operator_client.get(CHANGELIST)
    bybit_perps = operator_client.get(CHANGELIST, {"exchange": "bybit", "market_type": "perp"})
    searched = operator_client.get(CHANGELIST, {"q": "btc"})

    assert everything.context["cl"].result_count == 2
    assert [i.symbol for i in bybit_perps.context["cl"].result_list] == ["ETH/USDT:USDT"]
    assert [i.symbol for i in searched.context["cl"].result_list] == ["BTC/USDT"]


def test_track_and_untrack_actions_go_through_the_service(operator_client) -> None:
    a, b, c = InstrumentFactory(), InstrumentFactory(), InstrumentFactory()

    operator_client.post(CHANGELIST, {"action": "track", "_selected_action": [a.pk, b.pk], "intervals": "1m, 1h,1m"})

    tracked = dict(Instrument.objects.values_list("pk", "tracked_intervals").filter(tracked=True))
    assert tracked == {a.pk: ["1m", "1h"], b.pk: ["1m", "1h"]}

    operator_client.post(CHANGELIST, {"action": "untrack", "_selected_action": [a.pk]})

    rows = list(Instrument.objects.order_by("pk").values_list("pk", "tracked", "tracked_intervals"))
    assert rows == [(a.pk, False, []), (b.pk, True, ["1m", "1h"]), (c.pk, False, [])]


@pytest.mark.parametrize(
    ("intervals", "message"),
    [
        ("", "Give the intervals to track, e.g. 1m,1h."),
        ("1m,7m", "unknown interval '7m'; known: 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d, 1w, 1M"),
    ],
)
def test_track_without_valid_intervals_changes_nothing(operator_client, intervals: str, message: str) -> None:
    market = InstrumentFactory()

    response = operator_client.post(
        CHANGELIST, {"action": "track", "_selected_action": [market.pk], "intervals": intervals}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [message]
    assert list(Instrument.objects.values_list("tracked", "tracked_intervals")) == [(False, [])]


def test_instrument_change_page_is_read_only_and_links_the_gaps(operator_client) -> None:
    market = InstrumentFactory(tick_size="0.00000100")
    services.klines_store(
        instrument_id=market.pk, interval="1m", candles=candles([0, 1]), covered=(T0, T0 + 5 * MINUTE_MS)
    )

    page = operator_client.get(f"{CHANGELIST}{market.pk}/change/")
    posted = operator_client.post(f"{CHANGELIST}{market.pk}/change/", {"tick_size": "1", "tracked": "on"})

    assert page.status_code == 200
    assert f'href="/admin/marketdata/instrument/{market.pk}/gaps/?interval=1m"'.encode() in page.content
    assert b"2019-10-11T00:01:00Z" in page.content  # the last stored candle
    assert posted.status_code in (200, 302, 403)
    market.refresh_from_db()
    assert (str(market.tick_size), market.tracked) == ("0.00000100", False)
    assert operator_client.get("/admin/marketdata/instrument/add/").status_code == 403


def test_gaps_view_splits_unfetched_from_venue_empty(operator_client) -> None:
    # Given [T0, T0+10m) covered with minutes 3, 4 and 7 absent (the venue has none), and [T0+15m, T0+20m) covered
    # fully: minutes 10..14 were never fetched
    market = InstrumentFactory()
    present = [0, 1, 2, 5, 6, 8, 9]
    services.klines_store(
        instrument_id=market.pk, interval="1m", candles=candles(present), covered=(T0, T0 + 10 * MINUTE_MS)
    )
    services.klines_store(
        instrument_id=market.pk,
        interval="1m",
        candles=candles(list(range(15, 20))),
        covered=(T0 + 15 * MINUTE_MS, T0 + 20 * MINUTE_MS),
    )

    response = operator_client.get(f"{CHANGELIST}{market.pk}/gaps/", {"interval": "1m"})

    report = response.context["report"]
    assert response.context["window"] == ("2019-10-11T00:00:00Z", "2019-10-11T00:20:00Z")
    assert report.unfetched == ((T0 + 10 * MINUTE_MS, T0 + 15 * MINUTE_MS),)
    assert report.venue_empty == ((T0 + 3 * MINUTE_MS, T0 + 5 * MINUTE_MS), (T0 + 7 * MINUTE_MS, T0 + 8 * MINUTE_MS))
    assert response.context["unfetched"] == [("2019-10-11T00:10:00Z", "2019-10-11T00:15:00Z", 5)]
    assert response.context["venue_empty"] == [
        ("2019-10-11T00:03:00Z", "2019-10-11T00:05:00Z", 2),
        ("2019-10-11T00:07:00Z", "2019-10-11T00:08:00Z", 1),
    ]
    assert b"Not fetched: 5 candle(s) in 1 range(s)." in response.content
    assert b"The venue has none: 3 candle(s) in 2 range(s)." in response.content


def test_gaps_view_with_an_explicit_window_and_with_nothing_stored(operator_client) -> None:
    market = InstrumentFactory()
    services.klines_store(instrument_id=market.pk, interval="1m", candles=candles([0, 2]), covered=None)

    window = operator_client.get(
        f"{CHANGELIST}{market.pk}/gaps/", {"interval": "1m", "start": "2019-10-11 00:00", "end": "2019-10-11 00:04"}
    )
    nothing = operator_client.get(f"{CHANGELIST}{market.pk}/gaps/", {"interval": "1h"})
    missing = operator_client.get(f"{CHANGELIST}{market.pk + 99}/gaps/", {"interval": "1m"})

    assert window.context["report"].unfetched == (
        (T0 + MINUTE_MS, T0 + 2 * MINUTE_MS),
        (T0 + 3 * MINUTE_MS, T0 + 4 * MINUTE_MS),
    )
    assert window.context["report"].unfetched_candles == 2
    assert "report" not in nothing.context
    assert b"No window: nothing covered or stored" in nothing.content
    assert missing.status_code == 404


def test_gaps_view_needs_the_admin(client, user) -> None:
    market = InstrumentFactory()
    client.force_login(user)
    response = client.get(f"{CHANGELIST}{market.pk}/gaps/", {"interval": "1m"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_coverage_and_archives_are_read_only(operator_client) -> None:
    market = InstrumentFactory()
    services.coverage_add(instrument_id=market.pk, interval="1h", start_ms=T0, end_ms=T0 + 24 * 60 * MINUTE_MS)
    archive = KlineArchive.objects.create(
        instrument=market,
        interval="1m",
        period="2019-10",
        url="http://127.0.0.1/x.zip",
        sha256="ab" * 32,
        rows=44640,
        imported_at=timezone.now(),
    )
    coverage = KlineCoverage.objects.get()

    listing = operator_client.get("/admin/marketdata/klinecoverage/")
    assert listing.status_code == 200
    assert b"2019-10-11T00:00:00Z" in listing.content and b"2019-10-12T00:00:00Z" in listing.content
    assert b'<td class="field-candles">24</td>' in listing.content
    assert operator_client.get("/admin/marketdata/klinecoverage/add/").status_code == 403
    assert (
        operator_client.post(f"/admin/marketdata/klinecoverage/{coverage.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert operator_client.get("/admin/marketdata/klinearchive/").status_code == 200
    assert (
        operator_client.post(f"/admin/marketdata/klinearchive/{archive.pk}/change/", {"rows": "1"}).status_code == 403
    )
    assert KlineCoverage.objects.count() == 1
    assert KlineArchive.objects.get().rows == 44640


def test_download_jobs_show_progress_and_counters(operator_client) -> None:
    KlineDownloadJob.objects.create(
        parameters={"exchange": "binance"},
        progress_done=250,
        progress_total=1000,
        rows_written=250_000,
        rows_present=12,
        requests=250,
        retries=3,
        gaps_left=7,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        status="failed",
        error="VenueError: 418 banned\nTraceback...",
    )

    response = operator_client.get("/admin/marketdata/klinedownloadjob/")

    assert response.status_code == 200
    content = response.content.decode()
    assert '<td class="field-progress">250 / 1000 (25%)</td>' in content
    assert '<td class="field-rows_written">250000</td>' in content
    assert '<td class="field-retries">3</td>' in content
    assert '<td class="field-gaps_left">7</td>' in content
    assert '<td class="field-error_summary">VenueError: 418 banned</td>' in content
    assert operator_client.get("/admin/marketdata/klinedownloadjob/add/").status_code == 403


def test_progress_column_without_a_total() -> None:
    column = KlineDownloadJobAdmin(KlineDownloadJob, admin.site).progress
    assert column(KlineDownloadJob(progress_done=5, progress_total=0)) == "5 / —"
    assert column(KlineDownloadJob(progress_done=999, progress_total=1000)) == "999 / 1000 (99%)"
    assert column(KlineDownloadJob(progress_done=1000, progress_total=1000)) == "1000 / 1000 (100%)"
