"""Public, read-only websocket of one market's consolidated book: ``/ws/orderbook/<BASE-QUOTE>/``.

On connect the last published snapshot (if any) is sent at once, then every snapshot the watcher publishes.
"""

from __future__ import annotations

from typing import Any

from hftplatform.consumers import ReadOnlyGroupConsumer
from marketdata.core.venues import SymbolError, unified_symbol_split
from orderbook.live.snapshots import market_unslug
from orderbook.selectors import orderbook_snapshot_aget
from orderbook.services import orderbook_group

# Application close code for "not a market symbol" (4000-4999 are free for applications).
CLOSE_BAD_SYMBOL = 4400


class OrderBookConsumer(ReadOnlyGroupConsumer):
    """Joins the market's group and forwards its snapshots; market data is public, so no sign-in is needed."""

    refusal_code = CLOSE_BAD_SYMBOL
    symbol = ""

    async def group_for(self) -> str | None:
        self.symbol = market_unslug(self.scope["url_route"]["kwargs"]["market"])
        try:
            unified_symbol_split(self.symbol)
        except SymbolError:
            return None
        return orderbook_group(self.symbol)

    async def joined(self) -> None:
        snapshot = await orderbook_snapshot_aget(symbol=self.symbol)
        if snapshot is not None:
            await self.send_json({"type": "orderbook", "snapshot": snapshot})

    async def orderbook_snapshot(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "orderbook", "snapshot": event["snapshot"]})
