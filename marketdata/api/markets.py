"""``/api/v1/markets/``: instruments with their coverage per interval (public). Decimals are exact text, times ISO
8601 UTC with their integer milliseconds; covered ranges are half-open."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hftplatform.api.schema import error_response
from hftplatform.core.decimal_text import decimal_text_keep_scale
from marketdata import selectors
from marketdata.core.candles import open_time_iso
from marketdata.core.venues import Venue
from marketdata.models import Instrument


class _InstrumentIdPagination(CursorPagination):
    """Markets in id order: a unique, indexed, immutable key, so pages never repeat or skip a market."""

    ordering = ("id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class MarketsApi(APIView):
    """Instruments with their coverage per interval: covered ranges and the first and last stored candle."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "MarketsQuery"

        exchange = serializers.ChoiceField(choices=[v.value for v in Venue], required=False)
        tracked = serializers.BooleanField(required=False, allow_null=True, default=None)
        page_size = serializers.IntegerField(min_value=1, max_value=500, required=False)
        cursor = serializers.CharField(required=False)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Market"

        class CoverageSerializer(serializers.Serializer):
            class Meta:
                ref_name = "MarketCoverage"

            class RangeSerializer(serializers.Serializer):
                class Meta:
                    ref_name = "CoveredRange"

                start = serializers.CharField(help_text="ISO 8601 UTC, inclusive.")
                end = serializers.CharField(help_text="ISO 8601 UTC, exclusive.")
                start_ms = serializers.IntegerField()
                end_ms = serializers.IntegerField()

            interval = serializers.CharField()
            ranges = RangeSerializer(many=True, help_text="Where the venue was asked and answered.")
            first_open_time = serializers.CharField(allow_null=True)
            first_open_time_ms = serializers.IntegerField(allow_null=True)
            last_open_time = serializers.CharField(allow_null=True)
            last_open_time_ms = serializers.IntegerField(allow_null=True)

        id = serializers.IntegerField()
        exchange = serializers.CharField()
        market_type = serializers.CharField()
        symbol = serializers.CharField()
        venue_symbol = serializers.CharField()
        tick_size = serializers.CharField(help_text="Exact decimal text.")
        lot_size = serializers.CharField(help_text="Exact decimal text.")
        listed_at = serializers.DateTimeField(allow_null=True)
        tracked = serializers.BooleanField()
        tracked_intervals = serializers.ListField(child=serializers.CharField())
        coverage = CoverageSerializer(many=True)

    @extend_schema(
        operation_id="markets_list",
        parameters=[InputSerializer],
        responses={
            200: OutputSerializer(many=True),
            400: error_response("`invalid`: an unknown exchange, a bad `tracked` or page size."),
            404: error_response("`not_found`: a cursor this API did not write."),
        },
        tags=["market data"],
    )
    def get(self, request: Request) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        markets = Instrument.objects.all()
        if "exchange" in query.validated_data:
            markets = markets.filter(exchange=query.validated_data["exchange"])
        if query.validated_data["tracked"] is not None:
            markets = markets.filter(tracked=query.validated_data["tracked"])
        paginator = _InstrumentIdPagination()
        page = paginator.paginate_queryset(markets, request, view=self) or []
        coverage = selectors.markets_coverage(instruments=page)
        items = [market_payload(market, coverage[market.pk]) for market in page]
        return paginator.get_paginated_response(self.OutputSerializer(items, many=True).data)


def market_payload(market: Instrument, coverage: list[selectors.IntervalCoverage]) -> dict[str, Any]:
    return {
        "id": market.pk,
        "exchange": market.exchange,
        "market_type": market.market_type,
        "symbol": market.symbol,
        "venue_symbol": market.venue_symbol,
        "tick_size": decimal_text_keep_scale(market.tick_size),
        "lot_size": decimal_text_keep_scale(market.lot_size),
        "listed_at": market.listed_at,
        "tracked": market.tracked,
        "tracked_intervals": market.tracked_intervals,
        "coverage": [
            {
                "interval": c.interval,
                "ranges": [
                    {"start": open_time_iso(a), "end": open_time_iso(b), "start_ms": a, "end_ms": b}
                    for a, b in c.ranges
                ],
                "first_open_time": None if c.first_open_ms is None else open_time_iso(c.first_open_ms),
                "first_open_time_ms": c.first_open_ms,
                "last_open_time": None if c.last_open_ms is None else open_time_iso(c.last_open_ms),
                "last_open_time_ms": c.last_open_ms,
            }
            for c in coverage
        ],
    }
