"""``manage.py klines funding``: perpetuals' funding history from the command line; bad input stores nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command

from marketdata import selectors
from marketdata.core.intervals import DAY_MS, HOUR_MS
from marketdata.core.venues import MarketType, Venue
from marketdata.models import FundingCoverage, FundingRate, Instrument, KlineDownloadJob
from tests.marketdata.fakes import FakeBinance, FakeBybit, FundingHistory, Market

DAY0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
BINANCE_PERP = Market(Venue.BINANCE, MarketType.PERP, "BTCUSDT", listed_ms=DAY0 - 30 * DAY_MS)
BINANCE_SPOT = Market(Venue.BINANCE, MarketType.SPOT, "BTCUSDT", listed_ms=DAY0 - 30 * DAY_MS)
BYBIT_PERP = Market(Venue.BYBIT, MarketType.PERP, "BTCUSDT", listed_ms=DAY0 - 30 * DAY_MS)
HISTORY = FundingHistory.make("BTCUSDT", DAY0 - DAY_MS, [(8 * HOUR_MS, 60), (4 * HOUR_MS, 120)])


@pytest.fixture
def fakes(settings) -> Iterator[tuple[FakeBinance, FakeBybit]]:  # type: ignore[no-untyped-def]
    with (
        FakeBinance([BINANCE_PERP, BINANCE_SPOT], funding=[HISTORY]) as binance,
        FakeBybit([BYBIT_PERP], funding=[HISTORY]) as bybit,
    ):
        settings.BINANCE_REST_URL = binance.url
        settings.BINANCE_FUTURES_REST_URL = binance.url
        settings.BYBIT_REST_URL = bybit.url
        yield binance, bybit


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("klines", "funding", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_funding_loads_the_market_lists_then_the_events_of_both_venues(fakes):
    out, err = run(
        "--exchange", "all", "--symbol", "BTC/USDT:USDT", "--start", "2024-01-01", "--end", "2024-01-21",
    )  # fmt: skip

    # at each venue: 8-hourly from Jan 1 to Jan 19 (57 events), then 4-hourly on Jan 20 (6); one 1000-hour window at
    # Binance, three 200-hour windows at Bybit
    assert out.strip() == "126 funding events written, 0 already present, 4 requests, 0 retries"
    assert "loading binance's perp market list" in err and "loading bybit's perp market list" in err
    end = DAY0 + 20 * DAY_MS
    for venue in ("binance", "bybit"):
        instrument = Instrument.objects.get(exchange=venue, symbol="BTC/USDT:USDT")
        rows = selectors.funding_events_read(instrument_id=instrument.pk, start_ms=0, end_ms=2**62)
        expected = HISTORY.between(DAY0, end - 1)
        assert [e.time_ms for e in rows] == [r.time_ms for r in expected]
        texts = [r.binance_rate() if venue == "binance" else r.bybit_rate() for r in expected]
        assert [e.rate for e in rows] == texts
        assert selectors.funding_coverage_ranges(instrument_id=instrument.pk) == [(DAY0, end)]
    job = KlineDownloadJob.objects.get()
    assert (job.status, job.parameters["kind"], job.progress_done, job.progress_total) == ("done", "funding", 4, 4)

    again, _ = run("--exchange", "binance", "--symbol", "BTC/USDT:USDT", "--start", "2024-01-01", "--end", "2024-01-21")

    assert again.strip() == "0 funding events written, 0 already present, 0 requests, 0 retries"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbol", "BTC/USDT"], "BTC/USDT is a spot symbol: funding rates are for perpetuals"),
        (["--symbol", "BTCUSDT"], "not a unified symbol"),
        (["--symbol", "DOGE/USDT:USDT"], "DOGE/USDT:USDT: no such market at binance"),
        (["--start", "2024-02-01"], "must be after --start"),
        (["--end", "soon"], "not a date or ISO datetime"),
    ],
)
def test_funding_refuses_bad_input_and_writes_nothing(fakes, args, message):
    options = {"--exchange": "binance", "--symbol": "BTC/USDT:USDT", "--start": "2024-01-01", "--end": "2024-01-10"}
    for i in range(0, len(args), 2):
        options[args[i]] = args[i + 1]

    with pytest.raises(CommandError, match=message):
        run(*(item for pair in options.items() for item in pair))

    assert (FundingRate.objects.count(), FundingCoverage.objects.count(), KlineDownloadJob.objects.count()) == (0, 0, 0)


@pytest.mark.django_db
def test_funding_refuses_a_venue_without_perpetuals(fakes):
    with pytest.raises(CommandError, match="invalid choice: 'coinbase'"):
        run("--exchange", "coinbase", "--symbol", "BTC/USD:USD", "--start", "2024-01-01", "--end", "2024-01-10")


@pytest.mark.django_db
def test_a_venue_failure_is_reported_and_the_command_fails(fakes):
    binance, _ = fakes
    binance.faults.add("400", times=1, path_prefix="/fapi/v1/fundingRate")

    with pytest.raises(CommandError, match="1 market\\(s\\) failed; re-run to resume"):
        run("--exchange", "binance", "--symbol", "BTC/USDT:USDT", "--start", "2024-01-01", "--end", "2024-01-10")

    assert FundingRate.objects.count() == 0
