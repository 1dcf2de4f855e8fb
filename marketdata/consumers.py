"""Public, read-only websocket of one market's live candles: ``/ws/klines/<instrument_id>/``."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from hftplatform.consumers import ReadOnlyGroupConsumer
from marketdata.broadcasts import kline_group
from marketdata.models import Instrument

# Application close code for "no such market" (4000-4999 are free for applications).
CLOSE_UNKNOWN_MARKET = 4404


@database_sync_to_async
def _instrument_exists(instrument_id: int) -> bool:
    return Instrument.objects.filter(pk=instrument_id).exists()


class KlinesConsumer(ReadOnlyGroupConsumer):
    """Joins the market's group and forwards every broadcast; market data is public, so no sign-in is needed."""

    refusal_code = CLOSE_UNKNOWN_MARKET

    async def group_for(self) -> str | None:
        instrument_id = int(self.scope["url_route"]["kwargs"]["instrument_id"])
        return kline_group(instrument_id) if await _instrument_exists(instrument_id) else None

    async def klines_update(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "klines",
                "instrument_id": event["instrument_id"],
                "interval": event["interval"],
                "candles": event["candles"],
            }
        )
