"""A candle as the venue wrote it: integer millisecond open time and the venue's exact decimal strings; and as JSON
(:func:`candle_payload`: what the API returns and the live broadcast carries)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from hftplatform.core.utc import utc_from_ms, utc_iso

_FLOAT_MAX = sys.float_info.max  # below it, the text was finite (inf and nan never pass the strict checks)


class CandleError(ValueError):
    """Data that cannot be a candle: bad numbers, high below low, a misaligned open time. Never retried."""


@dataclass(frozen=True, slots=True)
class Candle:
    open_time: int  # milliseconds since the epoch, UTC
    open: str  # the venue's exact decimal text (PostgreSQL NUMERIC keeps its scale, so it round-trips)
    high: str
    low: str
    close: str
    volume: str  # base-asset volume
    closed: bool = True  # False: the still-open candle, replaced when it closes

    def validate(self) -> Candle:
        """Check the numbers and the OHLC order; return self. Raises :class:`CandleError`."""
        # Fast path, still exact: rounding decimal text to the nearest binary float never reverses an order, so a
        # strict float inequality implies the exact one. Ties, zeros and anything odd take the Decimal path.
        try:
            fo, fh, fl = float(self.open), float(self.high), float(self.low)
            fc, fv = float(self.close), float(self.volume)
        except (ValueError, TypeError):
            pass
        else:
            if 0.0 < fl < fo < fh < _FLOAT_MAX and fl < fc < fh and 0.0 < fv < _FLOAT_MAX:
                return self
        try:
            o, h, lo, c, v = (Decimal(x) for x in (self.open, self.high, self.low, self.close, self.volume))
        except (InvalidOperation, TypeError):
            raise CandleError(f"candle at {self.open_time}: a field is not a decimal number: {self!r}") from None
        if not all(x.is_finite() for x in (o, h, lo, c, v)):
            raise CandleError(f"candle at {self.open_time}: a field is not finite: {self!r}")
        if lo < 0 or v < 0:
            raise CandleError(f"candle at {self.open_time}: negative low or volume: {self!r}")
        if not (lo <= min(o, c) and max(o, c) <= h):
            raise CandleError(f"candle at {self.open_time}: open/close outside [low, high]: {self!r}")
        return self


def open_time_iso(ms: int) -> str:
    """Milliseconds UTC as ISO 8601 with ``Z`` (integer arithmetic: no float rounding of the instant)."""
    return utc_iso(utc_from_ms(ms))


def candle_payload(candle: Candle) -> dict[str, Any]:
    """A candle as JSON: ISO 8601 UTC and millisecond open time, exact decimal strings, the closed flag."""
    return {
        "open_time": open_time_iso(candle.open_time),
        "open_time_ms": candle.open_time,
        "open": candle.open,
        "high": candle.high,
        "low": candle.low,
        "close": candle.close,
        "volume": candle.volume,
        "closed": candle.closed,
    }
