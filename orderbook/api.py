"""``GET /api/v1/orderbook/{symbol}/?depth=``: the last consolidated snapshot of a live market.

``symbol`` is the unified spot symbol with its slash written as a hyphen (``BTC-USDT``) or percent-encoded
(``BTC%2FUSDT``); both mean ``BTC/USDT``. Prices and sizes are exact decimal strings as the venues sent them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hftplatform.api.schema import error_response
from marketdata.core.venues import SymbolError, unified_symbol_split
from orderbook import selectors
from orderbook.live.snapshots import market_unslug, snapshot_truncate
from orderbook.services import PUBLISHED_DEPTH


class OrderBookApi(APIView):
    """Per-venue best bid and ask with each venue's sync state, depth aggregated by price, cross-venue signals."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderBookQuery"

        depth = serializers.IntegerField(min_value=1, max_value=PUBLISHED_DEPTH, default=20)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderBookSnapshot"

        symbol = serializers.CharField()
        time = serializers.CharField(help_text="When the snapshot was built, ISO 8601 UTC.")
        time_ms = serializers.IntegerField(help_text="The same instant in integer milliseconds UTC.")
        depth = serializers.IntegerField()
        venues = serializers.ListField(
            child=serializers.DictField(),
            help_text="venue, state (live/syncing/connecting), bid and ask {price, size} or null, messages, "
            "resyncs by reason, reconnects.",
        )
        bids = serializers.ListField(child=serializers.DictField(), help_text="{price, size, venues}, best first.")
        asks = serializers.ListField(child=serializers.DictField(), help_text="{price, size, venues}, best first.")
        signals = serializers.ListField(
            child=serializers.DictField(),
            help_text="{buy_venue, buy_price, sell_venue, sell_price, size, edge}: crossed after taker fees.",
        )

    @extend_schema(
        operation_id="orderbook_snapshot",
        parameters=[InputSerializer],
        responses={
            200: OutputSerializer,
            400: error_response("`invalid`: a depth outside 1..50 or a symbol that is not BASE-QUOTE."),
            404: error_response("`not_found`: nothing is live for the symbol."),
        },
        tags=["order books"],
    )
    def get(self, request: Request, symbol: str) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        unified = market_unslug(symbol)
        try:
            unified_symbol_split(unified)
        except SymbolError:
            raise serializers.ValidationError(
                {"symbol": [f"Not a market symbol: {symbol!r} (e.g. BTC-USDT or BTC%2FUSDT)."]}
            ) from None
        snapshot = selectors.orderbook_snapshot_get(symbol=unified)
        if snapshot is None:
            raise exceptions.NotFound(f"Nothing is live for {unified}: no order-book watcher publishes it.")
        data: dict[str, Any] = snapshot_truncate(snapshot, query.validated_data["depth"])
        return Response(data)
