"""The funding-rate truth the fake venues serve: settled events of a perpetual at irregular times.

A :class:`FundingHistory` is built from segments of (interval, count): 8-hourly, then 4-hourly, then hourly, as
symbols' intervals change at the venues. Rates and mark prices come from a hash of (symbol, time), in units of
``1e-8``, so the same inputs give the same events; some events are a few milliseconds late (Binance's funding times
are), and the oldest ones have no mark price (Binance's early records say ``"markPrice": ""``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.marketdata.fakes.truth import mix64, plain_text, units_text

RATE_DECIMALS = 8


@dataclass(frozen=True, slots=True)
class FundingRow:
    time_ms: int
    rate_units: int  # of 1e-8; negative: shorts pay longs
    mark_units: int | None  # of 1e-8; None: the venue wrote no mark price

    def binance_rate(self) -> str:
        return _signed(self.rate_units, units_text)

    def binance_mark(self) -> str:
        return "" if self.mark_units is None else units_text(self.mark_units, RATE_DECIMALS)

    def bybit_rate(self) -> str:
        return _signed(self.rate_units, plain_text)


def _signed(units: int, fmt) -> str:  # type: ignore[no-untyped-def]
    text = fmt(abs(units), RATE_DECIMALS)
    return f"-{text}" if units < 0 else text


@dataclass
class FundingHistory:
    venue_symbol: str
    rows: list[FundingRow]

    @classmethod
    def make(
        cls, venue_symbol: str, start_ms: int, segments: list[tuple[int, int]], *, no_mark_before: int = 0
    ) -> FundingHistory:
        """Events from ``start_ms``: for each ``(interval_ms, count)`` segment, ``count`` events ``interval_ms``
        apart. An event's time is the nominal one plus 0-9 ms for one event in four."""
        rows = []
        nominal = start_ms
        seed = int.from_bytes(venue_symbol.encode()[:8].ljust(8, b"\0"), "big")
        for interval_ms, count in segments:
            for _ in range(count):
                h = mix64(seed ^ nominal)
                late = (h >> 8) % 10 if h % 4 == 0 else 0
                rate = (h >> 16) % 150_001 - 50_000  # -0.00050000 .. 0.00100000
                mark = 2_500_000_000_000 + (h >> 40) % 1_000_000_000_000  # 25,000 .. 35,000
                time_ms = nominal + late
                rows.append(FundingRow(time_ms, rate, None if time_ms < no_mark_before else mark))
                nominal += interval_ms
        return cls(venue_symbol, rows)

    def between(self, start_ms: int, end_ms: int) -> list[FundingRow]:
        """Rows with ``start_ms <= time <= end_ms`` (both inclusive, as the venues read them), ascending."""
        return [row for row in self.rows if start_ms <= row.time_ms <= end_ms]
