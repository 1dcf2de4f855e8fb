"""Public, read-only websocket of one market's live candles: ``/ws/klines/<instrument_id>/``."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from marketdata.live import kline_group
from marketdata.models import Instrument

# Application close code for "no such market" (4000-4999 are free for applications).
CLOSE_UNKNOWN_MARKET = 4404


@database_sync_to_async
def _instrument_exists(instrument_id: int) -> bool:
    return Instrument.objects.filter(pk=instrument_id).exists()


class KlinesConsumer(AsyncJsonWebsocketConsumer):
    """Joins the market's group and forwards every broadcast; market data is public, so no sign-in is needed.
    Anything the client sends is ignored: the socket only reads."""

    group: str | None = None

    async def connect(self) -> None:
        instrument_id = int(self.scope["url_route"]["kwargs"]["instrument_id"])
        if not await _instrument_exists(instrument_id):
            # Accept first so the browser sees 4404 rather than 1006 and does not reconnect forever.
            await self.accept()
            await self.close(code=CLOSE_UNKNOWN_MARKET)
            return
        self.group = kline_group(instrument_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        return None  # read-only: not even parsed, so a malformed frame cannot break the socket

    async def klines_update(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "klines",
                "instrument_id": event["instrument_id"],
                "interval": event["interval"],
                "candles": event["candles"],
            }
        )
