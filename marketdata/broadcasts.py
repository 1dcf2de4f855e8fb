"""Live candles: one Channels group per market, and the broadcast that workers call when candles change.

A payload carries the candles of one interval, each as the API writes it
(:func:`~marketdata.core.candles.candle_payload`): ``open_time`` ISO 8601 UTC and ``open_time_ms`` (integer
milliseconds UTC), prices and volume as the stored decimal text, and ``closed``. A closed candle that arrives for an
open time the page already holds replaces the open one there.
"""

from __future__ import annotations

from collections.abc import Sequence

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from marketdata.core.candles import Candle, candle_payload
from marketdata.core.intervals import interval_get

# Channels group names allow ASCII letters, digits, hyphens, underscores and periods, under 100 characters.
_GROUP_PREFIX = "marketdata.klines."
KLINES_EVENT = "klines.update"  # handled by KlinesConsumer.klines_update


def kline_group(instrument_id: int) -> str:
    """The Channels group of one market's live candles (every interval of it)."""
    return f"{_GROUP_PREFIX}{int(instrument_id)}"


def klines_broadcast(*, instrument_id: int, interval: str, candles: Sequence[Candle]) -> None:
    """Push ``candles`` (one interval of one market, ascending) to every page watching the market."""
    code = interval_get(interval).code
    if not candles:
        return
    channel_layer = get_channel_layer()
    assert channel_layer is not None, "CHANNEL_LAYERS is not configured"
    event = {
        "type": KLINES_EVENT,
        "instrument_id": int(instrument_id),
        "interval": code,
        "candles": [candle_payload(candle) for candle in sorted(candles, key=lambda c: c.open_time)],
    }
    async_to_sync(channel_layer.group_send)(kline_group(instrument_id), event)
