"""Public, read-only websocket of one market's consolidated book: ``/ws/orderbook/<BASE-QUOTE>/``.

On connect the last published snapshot (if any) is sent at once, then every snapshot the watcher publishes.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from marketdata.core.venues import SymbolError, unified_symbol_split
from orderbook.live.snapshots import market_unslug
from orderbook.selectors import orderbook_snapshot_aget
from orderbook.services import orderbook_group

# Application close code for "not a market symbol" (4000-4999 are free for applications).
CLOSE_BAD_SYMBOL = 4400


class OrderBookConsumer(AsyncJsonWebsocketConsumer):
    """Joins the market's group and forwards its snapshots; market data is public, so no sign-in is needed.
    Anything the client sends is ignored."""

    group: str | None = None

    async def connect(self) -> None:
        symbol = market_unslug(self.scope["url_route"]["kwargs"]["market"])
        try:
            unified_symbol_split(symbol)
        except SymbolError:
            # Accept first so the browser sees 4400 rather than 1006 and does not reconnect forever.
            await self.accept()
            await self.close(code=CLOSE_BAD_SYMBOL)
            return
        self.group = orderbook_group(symbol)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        snapshot = await orderbook_snapshot_aget(symbol=symbol)
        if snapshot is not None:
            await self.send_json({"type": "orderbook", "snapshot": snapshot})

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        return None  # read-only

    async def orderbook_snapshot(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "orderbook", "snapshot": event["snapshot"]})
