"""Local fake exchange servers for tests and benchmarks (127.0.0.1 only): Binance spot + USD-M, Bybit v5,
Coinbase Exchange and Binance's kline archive host, all serving one deterministic candle truth (and the perpetuals'
funding history they are given)."""

from tests.marketdata.fakes.archive import FakeBinanceArchive
from tests.marketdata.fakes.binance import FakeBinance
from tests.marketdata.fakes.bybit import FakeBybit
from tests.marketdata.fakes.coinbase import FakeCoinbase
from tests.marketdata.fakes.funding import FundingHistory, FundingRow
from tests.marketdata.fakes.server import FakeServer, RequestRecord
from tests.marketdata.fakes.truth import Market

__all__ = [
    "FakeBinance",
    "FakeBinanceArchive",
    "FakeBybit",
    "FakeCoinbase",
    "FakeServer",
    "FundingHistory",
    "FundingRow",
    "Market",
    "RequestRecord",
]
