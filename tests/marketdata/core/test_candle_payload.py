"""A candle as JSON (the API's and the live broadcast's form): exact text, ISO 8601 UTC and millisecond times."""

from __future__ import annotations

from marketdata.core.candles import Candle, candle_payload, open_time_iso

T0 = 1_570_752_000_000  # 2019-10-11 00:00:00 UTC


def test_candle_payload_keeps_exact_text_and_utc_times() -> None:
    candle = Candle(T0 + 60_000, "8284.26000000", "8290.0", "8280.00000001", "8286.1", "0.00141342", closed=False)
    assert candle_payload(candle) == {
        "open_time": "2019-10-11T00:01:00Z",
        "open_time_ms": 1_570_752_060_000,
        "open": "8284.26000000",
        "high": "8290.0",
        "low": "8280.00000001",
        "close": "8286.1",
        "volume": "0.00141342",
        "closed": False,
    }
    # Integer arithmetic: a millisecond instant is not rounded through a float
    assert open_time_iso(1_570_752_000_123) == "2019-10-11T00:00:00.123000Z"
