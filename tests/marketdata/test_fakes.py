"""The fake venues behave as the real ones document: ordering, paging, limits, refusals, archives and faults.

Rate limits are shrunk (small budgets, 1-2 s windows, 1 s bans) so the whole file runs in seconds.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import itertools
import json
import time
import urllib.error
import urllib.request
import zipfile

import pytest

from marketdata.core.intervals import INTERVALS, MINUTE_MS
from marketdata.core.venues import MarketType, Venue
from tests.conftest import shared_fixture_dir
from tests.marketdata.fakes import FakeBinance, FakeBinanceArchive, FakeBybit, FakeCoinbase, Market
from tests.marketdata.fakes.coinbase import TOO_MANY, candle_rows

T0 = 1_700_000_040_000  # 2023-11-14T22:14:00Z, minute-aligned
NOW = T0 + 10_000 * MINUTE_MS + 30_000  # half-way through a minute: that candle is open
M1 = INTERVALS["1m"]


def get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - 127.0.0.1 only
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def binance_spot(**kw: object) -> Market:
    return Market(Venue.BINANCE, MarketType.SPOT, "BTCUSDT", listed_ms=T0, **kw)  # type: ignore[arg-type]


def binance_perp() -> Market:
    return Market(Venue.BINANCE, MarketType.PERP, "BTCUSDT", listed_ms=T0, tick_size="0.1", lot_size="0.001")


# -- the truth ---------------------------------------------------------------------------------------------------


def test_truth_is_deterministic_starts_at_listing_and_ends_with_the_open_candle() -> None:
    a, b = binance_spot(), binance_spot()
    candles = a.candles(M1, T0 - 100 * MINUTE_MS, NOW + 100 * MINUTE_MS, NOW)

    assert candles == b.candles(M1, T0 - 100 * MINUTE_MS, NOW + 100 * MINUTE_MS, NOW)
    assert len(candles) == 10_001
    assert candles[0].open_time == T0
    assert [c.open_time for c in candles] == list(range(T0, NOW, MINUTE_MS))
    assert [c.closed for c in candles[-2:]] == [True, False]
    assert all(c.validate() and c.open == p.close for p, c in itertools.pairwise(candles))
    assert all(len(c.open.split(".")[1]) == 8 and len(c.volume.split(".")[1]) == 8 for c in candles)


def test_truth_open_candle_grows_towards_its_close() -> None:
    market = binance_spot()
    t = T0 + 5 * MINUTE_MS
    early = market.candle_at(M1, t, t + 6_000)
    closed = market.candle_at(M1, t, t + MINUTE_MS)

    assert (early.closed, closed.closed) == (False, True)
    assert early.open == closed.open
    assert float(early.volume) < float(closed.volume)  # test-only comparison of two decimals' size


def test_truth_holes_leave_no_candle_and_both_orders_agree() -> None:
    market = binance_spot(holes=[(T0 + 3 * MINUTE_MS, T0 + 7 * MINUTE_MS)])
    up = market.select(M1, T0, T0 + 9 * MINUTE_MS, NOW)
    down = market.select(M1, T0, T0 + 9 * MINUTE_MS, NOW, newest_first=True)

    assert [(c.open_time - T0) // MINUTE_MS for c in up] == [0, 1, 2, 7, 8, 9]
    assert down == up[::-1]
    # an hourly candle containing the hole still exists: the hole covers only part of it
    assert len(market.candles(INTERVALS["1h"], T0, T0 + 3_600_000, NOW)) == 1


# -- Binance ---------------------------------------------------------------------------------------------------


def test_binance_klines_are_ascending_with_inclusive_end_and_exact_rows() -> None:
    market = binance_spot()
    with FakeBinance([market, binance_perp()], clock=lambda: NOW) as fake:
        status, headers, body = get(
            f"{fake.url}/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={T0}&endTime={T0 + 2 * MINUTE_MS}"
        )
    rows = json.loads(body)

    assert status == 200
    assert headers["X-MBX-USED-WEIGHT-1M"] == "2"
    assert [r[0] for r in rows] == [T0, T0 + MINUTE_MS, T0 + 2 * MINUTE_MS]
    expected = market.candles(M1, T0, T0 + 3 * MINUTE_MS, NOW)
    assert [r[1:6] for r in rows] == [[c.open, c.high, c.low, c.close, c.volume] for c in expected]
    assert rows[0][6] == T0 + MINUTE_MS - 1 and rows[0][11] == "0" and len(rows[0]) == 12


def test_binance_paging_by_start_time_has_no_duplicate_and_no_hole() -> None:
    market = binance_spot(holes=[(T0 + 990 * MINUTE_MS, T0 + 1010 * MINUTE_MS)])
    with FakeBinance([market], clock=lambda: NOW) as fake:
        seen: list[int] = []
        start = T0
        while True:
            _, _, body = get(f"{fake.url}/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime={start}&limit=1000")
            page = json.loads(body)
            if not page:
                break
            seen += [r[0] for r in page]
            start = page[-1][0] + 1

    assert seen == [c.open_time for c in market.candles(M1, T0, NOW + 1, NOW)]
    assert len(seen) == 10_001 - 20 and len(set(seen)) == len(seen)


def test_binance_defaults_newest_candles_and_limits() -> None:
    with FakeBinance([binance_spot(), binance_perp()], clock=lambda: NOW) as fake:
        _, _, body = get(f"{fake.url}/api/v3/klines?symbol=BTCUSDT&interval=1m")
        newest = json.loads(body)
        _, _, body = get(f"{fake.url}/api/v3/klines?symbol=BTCUSDT&interval=1m&endTime={T0 + 9 * MINUTE_MS}&limit=3")
        before_end = json.loads(body)
        spot_over = get(f"{fake.url}/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1001")
        futures_max = get(f"{fake.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1500&startTime={T0}")
        futures_over = get(f"{fake.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1501")

    assert len(newest) == 500 and newest[-1][0] == M1.floor(NOW)
    assert [r[0] for r in before_end] == [T0 + 7 * MINUTE_MS, T0 + 8 * MINUTE_MS, T0 + 9 * MINUTE_MS]
    assert (spot_over[0], json.loads(spot_over[2])["code"]) == (400, -1130)
    assert futures_max[0] == 200 and len(json.loads(futures_max[2])) == 1500
    assert (futures_over[0], json.loads(futures_over[2])["code"]) == (400, -1130)


@pytest.mark.parametrize(
    ("query", "code", "msg"),
    [
        ("symbol=NOPE&interval=1m", -1121, "Invalid symbol."),
        ("symbol=BTCUSDT&interval=2m", -1120, "Invalid interval."),
        ("interval=1m", -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
        (f"symbol=BTCUSDT&interval=1m&startTime={T0 + 1}&endTime={T0}", -1023, "Start time is greater than end time."),
    ],
)
def test_binance_refusals_have_the_documented_bodies(query: str, code: int, msg: str) -> None:
    with FakeBinance([binance_spot()], clock=lambda: NOW) as fake:
        status, _, body = get(f"{fake.url}/api/v3/klines?{query}")

    assert (status, json.loads(body)) == (400, {"code": code, "msg": msg})


def test_binance_futures_weight_depends_on_limit_and_spot_1s_is_spot_only() -> None:
    with FakeBinance([binance_spot(), binance_perp()], clock=lambda: NOW) as fake:
        used = []
        for limit in (99, 100, 500, 1000, 1001):
            _, headers, _ = get(f"{fake.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit={limit}")
            used.append(int(headers["X-MBX-USED-WEIGHT-1M"]))
        futures_1s = get(f"{fake.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1s")
        spot_1s = get(f"{fake.url}/api/v3/klines?symbol=BTCUSDT&interval=1s&limit=5")

    assert used == [1, 3, 8, 13, 23]  # cumulative: 1, 2, 5, 5, 10
    assert json.loads(futures_1s[2])["code"] == -1120
    assert spot_1s[0] == 200 and len(json.loads(spot_1s[2])) == 5


def test_binance_429_with_retry_after_then_418_ban_when_the_client_keeps_going() -> None:
    # a one-day window: the 429's back-off cannot lapse (nor the window turn) during the test
    with FakeBinance(
        [binance_spot(), binance_perp()], clock=lambda: NOW, spot_weight_limit=6, weight_window_s=86_400, ban_s=1
    ) as fake:
        url = f"{fake.url}/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1"
        answers = [get(url) for _ in range(7)]
        futures = get(f"{fake.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1")
        time.sleep(1.1)
        after_ban = get(url)

    statuses = [a[0] for a in answers]
    assert statuses == [200, 200, 200, 429, 429, 429, 418]
    assert [a[1]["X-MBX-USED-WEIGHT-1M"] for a in answers[:4]] == ["2", "4", "6", "6"]
    assert int(answers[3][1]["Retry-After"]) >= 1
    assert json.loads(answers[3][2])["code"] == -1003
    assert json.loads(answers[6][2])["msg"].startswith("Way too much request weight used; IP banned until ")
    assert answers[6][1]["Retry-After"] == "1"
    assert futures[0] == 200  # USD-M has its own budget
    assert after_ban[0] == 429  # the ban is over, the window (and its back-off) is not


def test_binance_exchange_info_has_the_documented_shape() -> None:
    with FakeBinance([binance_spot(), binance_perp()], clock=lambda: NOW) as fake:
        _, spot_headers, spot = get(f"{fake.url}/api/v3/exchangeInfo")
        _, _, futures = get(f"{fake.url}/fapi/v1/exchangeInfo")
        bad = get(f"{fake.url}/api/v3/exchangeInfo?symbol=NOPE")
        ping, server_time = get(f"{fake.url}/api/v3/ping"), get(f"{fake.url}/api/v3/time")

    spot_symbol = json.loads(spot)["symbols"][0]
    futures_info = json.loads(futures)
    futures_symbol = futures_info["symbols"][0]
    assert spot_headers["X-MBX-USED-WEIGHT-1M"] == "20"
    assert (spot_symbol["status"], spot_symbol["baseAsset"], spot_symbol["quoteAsset"]) == ("TRADING", "BTC", "USDT")
    assert spot_symbol["filters"][0] == {
        "filterType": "PRICE_FILTER",
        "minPrice": "0.01000000",
        "maxPrice": "1000000.00000000",
        "tickSize": "0.01000000",
    }
    assert spot_symbol["filters"][1]["stepSize"] == "0.00001000"
    assert futures_info["rateLimits"][0]["limit"] == 2400
    assert (futures_symbol["contractType"], futures_symbol["marginAsset"]) == ("PERPETUAL", "USDT")
    assert futures_symbol["onboardDate"] == T0
    assert futures_symbol["filters"][0]["tickSize"] == "0.1"
    assert (bad[0], json.loads(bad[2])["code"]) == (400, -1121)
    assert (ping[2], json.loads(server_time[2])) == (b"{}", {"serverTime": NOW})


# -- Bybit -------------------------------------------------------------------------------------------------------


def bybit_linear(**kw: object) -> Market:
    return Market(Venue.BYBIT, MarketType.PERP, "BTCUSDT", listed_ms=T0, tick_size="0.1", lot_size="0.001", **kw)  # type: ignore[arg-type]


def test_bybit_klines_are_newest_first_strings_with_inclusive_range() -> None:
    market = bybit_linear()
    with FakeBybit([market], clock=lambda: NOW) as fake:
        _, _, body = get(
            f"{fake.url}/v5/market/kline?category=linear&symbol=BTCUSDT&interval=1&start={T0}&end={T0 + 2 * MINUTE_MS}"
        )
        _, _, default = get(f"{fake.url}/v5/market/kline?category=linear&symbol=BTCUSDT&interval=1")
        _, _, capped = get(
            f"{fake.url}/v5/market/kline?category=linear&symbol=BTCUSDT&interval=60&start={T0}&end={NOW}&limit=2"
        )

    answer = json.loads(body)
    rows = answer["result"]["list"]
    expected = market.candles(M1, T0, T0 + 3 * MINUTE_MS, NOW)[::-1]
    assert (answer["retCode"], answer["retMsg"], answer["time"]) == (0, "OK", NOW)
    assert [r[:6] for r in rows] == [[str(c.open_time), c.open, c.high, c.low, c.close, c.volume] for c in expected]
    assert all(isinstance(x, str) for r in rows for x in r)
    default_rows = json.loads(default)["result"]["list"]
    assert len(default_rows) == 200 and default_rows[0][0] == str(M1.floor(NOW))
    hours = [int(r[0]) for r in json.loads(capped)["result"]["list"]]
    assert hours == [INTERVALS["1h"].floor(NOW), INTERVALS["1h"].floor(NOW) - 3_600_000]  # the newest of the range


@pytest.mark.parametrize(
    ("query", "msg"),
    [
        ("category=linear&symbol=BTCUSDT&interval=2", "params error: intervalTime is invalid"),
        ("category=linear&symbol=NOPE&interval=1", "Not supported symbols"),
        ("category=linear&symbol=BTCUSDT&interval=1&limit=1001", "params error: limit is invalid"),
        ("category=option&symbol=BTCUSDT&interval=1", "Illegal category"),
    ],
)
def test_bybit_refusals_are_http_200_with_ret_code(query: str, msg: str) -> None:
    with FakeBybit([bybit_linear()], clock=lambda: NOW) as fake:
        status, _, body = get(f"{fake.url}/v5/market/kline?{query}")

    answer = json.loads(body)
    assert (status, answer["retCode"], answer["retMsg"]) == (200, 10001, msg)


def test_bybit_ip_limit_answers_403_and_bans_for_the_configured_time() -> None:
    with FakeBybit([bybit_linear()], clock=lambda: NOW, requests_per_window=4, window_s=5, ban_s=1) as fake:
        url = f"{fake.url}/v5/market/time"
        statuses = [get(url)[0] for _ in range(6)]
        banned = get(url)
        time.sleep(1.1)
        after = get(url)

    assert statuses == [200, 200, 200, 200, 403, 403]
    assert (banned[0], banned[2]) == (403, b"access too frequent")
    assert after[0] == 200


def test_bybit_instruments_paginate_linear_with_cursor_and_not_spot() -> None:
    linear = [
        Market(Venue.BYBIT, MarketType.PERP, f"C{i}USDT", listed_ms=T0 + i, base=f"C{i}", lot_size="0.001")
        for i in range(5)
    ]
    spot = [Market(Venue.BYBIT, MarketType.SPOT, f"S{i}USDT", listed_ms=T0, base=f"S{i}") for i in range(3)]
    with FakeBybit(linear + spot, clock=lambda: NOW) as fake:
        symbols, cursor, pages = [], "", 0
        while True:
            _, _, body = get(f"{fake.url}/v5/market/instruments-info?category=linear&limit=2&cursor={cursor}")
            result = json.loads(body)["result"]
            symbols += [item["symbol"] for item in result["list"]]
            pages += 1
            cursor = result["nextPageCursor"]
            if not cursor:
                break
        _, _, spot_body = get(f"{fake.url}/v5/market/instruments-info?category=spot&limit=1")

    assert pages == 3 and symbols == [f"C{i}USDT" for i in range(5)]
    spot_list = json.loads(spot_body)["result"]["list"]
    assert [s["symbol"] for s in spot_list] == ["S0USDT", "S1USDT", "S2USDT"]
    assert spot_list[0]["lotSizeFilter"]["basePrecision"] == "0.00001"
    assert spot_list[0]["priceFilter"]["tickSize"] == "0.01"


def test_bybit_linear_instrument_fields() -> None:
    with FakeBybit([bybit_linear()], clock=lambda: NOW) as fake:
        _, _, body = get(f"{fake.url}/v5/market/instruments-info?category=linear")

    item = json.loads(body)["result"]["list"][0]
    assert (item["contractType"], item["status"], item["launchTime"]) == ("LinearPerpetual", "Trading", str(T0))
    assert (item["priceFilter"]["tickSize"], item["lotSizeFilter"]["qtyStep"]) == ("0.1", "0.001")


# -- Coinbase ----------------------------------------------------------------------------------------------------


def coinbase_market(**kw: object) -> Market:
    return Market(Venue.COINBASE, MarketType.SPOT, "BTC-USD", listed_ms=T0, quote="USD", lot_size="0.00000001", **kw)  # type: ignore[arg-type]


def iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_coinbase_candles_are_newest_first_numbers_and_omit_no_trade_periods() -> None:
    market = coinbase_market(holes=[(T0 + 2 * MINUTE_MS, T0 + 4 * MINUTE_MS)])
    with FakeCoinbase([market], clock=lambda: NOW) as fake:
        status, _, body = get(
            f"{fake.url}/products/BTC-USD/candles?granularity=60&start={iso(T0)}&end={iso(T0 + 5 * MINUTE_MS)}"
        )

    rows = candle_rows(body)
    expected = market.candles(M1, T0, T0 + 6 * MINUTE_MS, NOW)[::-1]
    assert status == 200
    assert [int(r[0]) for r in rows] == [(T0 + k * MINUTE_MS) // 1000 for k in (5, 4, 1, 0)]
    assert rows == [[str(c.open_time // 1000), c.low, c.high, c.open, c.close, c.volume] for c in expected]
    assert body.startswith(b"[[") and b'"' not in body  # numbers, not strings


def test_coinbase_refuses_windows_over_300_candles_and_bad_granularity() -> None:
    with FakeCoinbase([coinbase_market()], clock=lambda: NOW) as fake:
        base = f"{fake.url}/products/BTC-USD/candles?granularity=60&start={iso(T0)}"
        exactly = get(f"{base}&end={iso(T0 + 299 * MINUTE_MS)}")
        over = get(f"{base}&end={iso(T0 + 300 * MINUTE_MS)}")
        granularity = get(f"{fake.url}/products/BTC-USD/candles?granularity=120")
        unknown = get(f"{fake.url}/products/NOPE-USD/candles?granularity=60")

    assert exactly[0] == 200 and len(json.loads(exactly[2])) == 300
    assert (over[0], json.loads(over[2])) == (400, {"message": TOO_MANY})
    assert (granularity[0], json.loads(granularity[2])) == (400, {"message": "Unsupported granularity"})
    assert (unknown[0], json.loads(unknown[2])) == (404, {"message": "NotFound"})


def test_coinbase_rate_limit_burst_then_429() -> None:
    with FakeCoinbase([coinbase_market()], clock=lambda: NOW, rate_per_s=2, burst=5) as fake:
        statuses = [get(f"{fake.url}/products")[0] for _ in range(7)]
        refused = get(f"{fake.url}/products")
        time.sleep(0.6)
        refilled = get(f"{fake.url}/products")

    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    assert json.loads(refused[2]) == {"message": "Public rate limit exceeded"}
    assert refilled[0] == 200


def test_coinbase_products() -> None:
    with FakeCoinbase([coinbase_market()], clock=lambda: NOW) as fake:
        _, _, body = get(f"{fake.url}/products")

    product = json.loads(body)[0]
    assert (product["id"], product["base_currency"], product["quote_currency"]) == ("BTC-USD", "BTC", "USD")
    assert (product["quote_increment"], product["base_increment"], product["status"]) == (
        "0.01",
        "0.00000001",
        "online",
    )


# -- the archive -------------------------------------------------------------------------------------------------

JAN_2025 = 1_735_689_600_000
MAR_2025 = 1_740_787_200_000


def archive_markets() -> list[Market]:
    listed = JAN_2025 - 40 * 86_400_000  # 2024-11-22
    return [
        Market(Venue.BINANCE, MarketType.SPOT, "BTCUSDT", listed_ms=listed),
        Market(Venue.BINANCE, MarketType.PERP, "BTCUSDT", listed_ms=listed, tick_size="0.1", lot_size="0.001"),
    ]


def read_zip(body: bytes) -> tuple[str, list[str]]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        (name,) = archive.namelist()
        return name, archive.read(name).decode().splitlines()


def test_archive_zips_match_their_checksums_and_the_rest_truth() -> None:
    spot, perp = archive_markets()
    with FakeBinanceArchive([spot, perp], clock=lambda: MAR_2025 + 1) as fake:
        base = f"{fake.url}/data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-12-31.zip"
        _, _, body = get(base)
        _, _, checksum = get(base + ".CHECKSUM")
        _, _, micro = get(f"{fake.url}/data/spot/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2025-01.zip")
        _, _, futures = get(f"{fake.url}/data/futures/um/monthly/klines/BTCUSDT/1mo/BTCUSDT-1mo-2025-01.zip")

    name, lines = read_zip(body)
    assert checksum.decode() == f"{hashlib.sha256(body).hexdigest()}  BTCUSDT-1h-2024-12-31.zip\n"
    assert name == "BTCUSDT-1h-2024-12-31.csv" and len(lines) == 24  # spot: no header
    truth = spot.candles(INTERVALS["1h"], JAN_2025 - 86_400_000, JAN_2025, MAR_2025)
    assert [line.split(",")[:6] for line in lines] == [
        [str(c.open_time), c.open, c.high, c.low, c.close, c.volume] for c in truth
    ]
    _, micro_lines = read_zip(micro)
    first = micro_lines[0].split(",")
    assert len(micro_lines) == 31
    assert (first[0], first[6]) == (str(JAN_2025 * 1000), str((JAN_2025 + 86_400_000) * 1000 - 1))
    _, futures_lines = read_zip(futures)
    assert futures_lines[0].startswith("open_time,open,high,low,close,volume,close_time,")
    assert futures_lines[1].split(",")[0] == str(JAN_2025)  # futures stay in milliseconds


def test_archive_answers_404_for_incomplete_unpublished_or_unknown_files() -> None:
    spot, perp = archive_markets()
    with FakeBinanceArchive([spot, perp], clock=lambda: MAR_2025 + 3_600_000, publish_delay_ms=7_200_000) as fake:
        root = f"{fake.url}/data/spot"
        current_month = get(f"{root}/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2025-03.zip")
        unpublished = get(f"{root}/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2025-02.zip")
        before_listing = get(f"{root}/monthly/klines/BTCUSDT/1d/BTCUSDT-1d-2024-10.zip")
        unknown = get(f"{root}/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2025-01-01.zip")
        published = get(f"{root}/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2025-02-27.zip")
        last_day = get(f"{root}/daily/klines/BTCUSDT/1d/BTCUSDT-1d-2025-02-28.zip")

    for answer in (current_month, unpublished, last_day, before_listing, unknown):
        assert answer[0] == 404 and b"<Code>NoSuchKey</Code>" in answer[2]
    assert published[0] == 200


def test_archive_faults_corrupt_zip_checksum_mismatch_and_republish() -> None:
    spot, perp = archive_markets()
    with FakeBinanceArchive([spot, perp], clock=lambda: MAR_2025) as fake:
        url = f"{fake.url}/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-01-02.zip"
        _, _, good = get(url)
        fake.corrupt_zip("2025-01-02")
        _, _, corrupt = get(url)
        _, _, checksum = get(url + ".CHECKSUM")
        other = get(url.replace("01-02", "01-03"))
        fake.checksum_mismatch("2025-01-03")
        _, _, mismatch = get(url.replace("01-02", "01-03") + ".CHECKSUM")
        before = spot.candles(M1, JAN_2025 + 3 * 86_400_000, JAN_2025 + 4 * 86_400_000, MAR_2025)
        _, _, old_sum = get(url.replace("01-02", "01-04") + ".CHECKSUM")
        fake.republish("2025-01-04")
        _, _, new_zip = get(url.replace("01-02", "01-04"))
        _, _, new_sum = get(url.replace("01-02", "01-04") + ".CHECKSUM")

    assert checksum.split()[0].decode() == hashlib.sha256(good).hexdigest() != hashlib.sha256(corrupt).hexdigest()
    with pytest.raises(zipfile.BadZipFile):
        read_zip(corrupt)
    assert mismatch.split()[0].decode() != hashlib.sha256(other[2]).hexdigest()
    assert old_sum != new_sum and new_sum.split()[0].decode() == hashlib.sha256(new_zip).hexdigest()
    after = spot.candles(M1, JAN_2025 + 3 * 86_400_000, JAN_2025 + 4 * 86_400_000, MAR_2025)
    assert [c.close for c in after] == [c.close for c in before] and after[0].volume != before[0].volume
    assert [line.split(",")[5] for line in read_zip(new_zip)[1]] == [c.volume for c in after]


def test_archive_layout_matches_the_real_recorded_rows() -> None:
    snippets = shared_fixture_dir("klines", "snippets")
    real_spot = (snippets / "binance_spot_BTCUSDT-1h-2023-10-27.first3rows.csv").read_text().splitlines()
    real_micro = (snippets / "binance_spot_DOGEUSDT-1s-2025-01-01.first3rows.microseconds.csv").read_text()
    real_header = (snippets / "binance_cm_BTCUSD_PERP-1h-2023-10-27.first3rows.csv").read_text().splitlines()[0]
    spot, perp = archive_markets()
    with FakeBinanceArchive([spot, perp], clock=lambda: MAR_2025) as fake:
        _, _, spot_zip = get(f"{fake.url}/data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-12-01.zip")
        _, _, micro_zip = get(f"{fake.url}/data/spot/daily/klines/BTCUSDT/1s/BTCUSDT-1s-2025-01-01.zip")
        _, _, futures_zip = get(f"{fake.url}/data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-12-01.zip")

    ours = read_zip(spot_zip)[1][0].split(",")
    real = real_spot[0].split(",")
    assert len(ours) == len(real) == 12
    assert [len(x.partition(".")[2]) for x in ours] == [len(x.partition(".")[2]) for x in real]
    assert len(read_zip(micro_zip)[1][0].split(",")[0]) == len(real_micro.split(",")[0]) == 16
    assert read_zip(futures_zip)[1][0] == real_header


# -- faults and the request log ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "502", "503", "429", "403", "418"])
def test_status_faults_answer_once_then_the_venue_resumes(kind: str) -> None:
    with FakeBinance([binance_spot()], clock=lambda: NOW) as fake:
        fake.faults.add(kind, times=2, path_prefix="/api/v3/klines")
        url = f"{fake.url}/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1"
        ping = get(f"{fake.url}/api/v3/ping")
        answers = [get(url) for _ in range(3)]

    assert ping[0] == 200  # another path: the fault waits for its own
    assert [a[0] for a in answers] == [int(kind), int(kind), 200]
    assert fake.counts() == {200: 2, int(kind): 2}
    assert fake.requests[1].params == {"symbol": "BTCUSDT", "interval": "1m", "limit": "1"}
    if kind in ("429", "418"):
        assert "Retry-After" in answers[0][1] and json.loads(answers[0][2])["code"] == -1003


def test_timeout_fault_holds_the_request_past_the_client_timeout() -> None:
    with FakeBybit([bybit_linear()], clock=lambda: NOW, fault_delay_s=1.0) as fake:
        fake.faults.add("timeout")
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            get(f"{fake.url}/v5/market/time", timeout=0.3)
        waited = time.monotonic() - started
        time.sleep(0.8)  # the held request completes and is logged
        after = get(f"{fake.url}/v5/market/time")

    assert waited < 0.9
    assert after[0] == 200 and fake.faults.pending() == 0


@pytest.mark.parametrize("kind", ["truncated", "cut"])
def test_truncated_and_cut_bodies_fail_the_read(kind: str) -> None:
    with FakeCoinbase([coinbase_market()], clock=lambda: NOW) as fake:
        fake.faults.add(kind)
        request = urllib.request.urlopen(f"{fake.url}/products/BTC-USD/candles?granularity=60", timeout=5)  # noqa: S310
        with pytest.raises(http.client.IncompleteRead):
            request.read()
        if kind == "truncated":
            assert int(request.headers["Content-Length"]) > 0
        else:
            assert request.headers["Transfer-Encoding"] == "chunked"
        whole = get(f"{fake.url}/products/BTC-USD/candles?granularity=60")

    assert request.status == 200 and len(json.loads(whole[2])) == 300


def test_unknown_fault_kind_is_refused() -> None:
    with FakeBinance([], clock=lambda: NOW) as fake, pytest.raises(ValueError, match="unknown fault"):
        fake.faults.add("slow")


def test_truth_path_wraps_without_a_break_in_the_chain() -> None:
    from tests.marketdata.fakes.truth import PATH_LENGTH

    market = binance_spot()
    wrap = M1.anchor_ms + (T0 // MINUTE_MS // PATH_LENGTH + 1) * PATH_LENGTH * MINUTE_MS
    candles = market.candles(M1, wrap - 2 * MINUTE_MS, wrap + 2 * MINUTE_MS, wrap + 10 * MINUTE_MS)

    assert Market.path_index(M1, candles[2].open_time) == 0
    assert [c.open for c in candles[1:]] == [c.close for c in candles[:-1]]
