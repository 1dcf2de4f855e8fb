"""A candle as the venue wrote it: integer millisecond open time and the venue's exact decimal strings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


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
