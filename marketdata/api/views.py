"""Public market-data API. Each view validates its query, calls selectors, and serialises; errors come out as
``{"error": {"code", "message", "fields"}}``.

Decimals are the stored text, as JSON strings (``"0.01000000"`` stays ``"0.01000000"``). Times: ``open_time`` ISO
8601 UTC and ``open_time_ms`` integer milliseconds UTC; query windows are half-open, ``end`` exclusive.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from hftplatform.api.schema import error_response
from marketdata import overview, selectors
from marketdata.core.intervals import IntervalError, interval_get, venue_interval_code
from marketdata.core.venues import MarketType, Venue
from marketdata.live import candle_payload, open_time_iso
from marketdata.models import Instrument

KLINES_PAGE_SIZE = 500
KLINES_MAX_PAGE_SIZE = 5000
# Past any candle (int64 milliseconds): an open window's end.
END_OF_TIME_MS = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_ms(text: str) -> int:
    """``2019-10-11`` or an ISO 8601 datetime (UTC when it carries no offset) → integer milliseconds UTC."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # timedelta arithmetic, not timestamp(): a float would round sub-millisecond instants unpredictably.
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def decimal_text(value: Decimal) -> str:
    """A stored NUMERIC as plain text with its scale (``str`` would write 0.00000001 as ``1E-8``)."""
    return format(value, "f")


def cursor_encode(open_time_ms: int) -> str:
    return base64.urlsafe_b64encode(f"t{open_time_ms}".encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> int:
    """The open time (ms) a klines page starts at; ``ValueError`` when the cursor is not one this API wrote."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor from this API") from None
    if not text.startswith("t") or not text[1:].isdigit():
        raise ValueError("not a cursor from this API")
    return int(text[1:])


class _UtcTimeField(serializers.CharField):
    """A date or ISO 8601 datetime, read as UTC unless it carries an offset; validated to milliseconds."""

    def to_internal_value(self, data: Any) -> int:  # type: ignore[override]
        text = super().to_internal_value(data)
        try:
            return utc_ms(text)
        except (ValueError, OverflowError):
            raise serializers.ValidationError(
                f"Not a date or ISO 8601 datetime: {text!r} (e.g. 2019-10-11 or 2019-10-11T12:30:00Z)."
            ) from None


class CandleOutputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Candle"

    open_time = serializers.CharField(help_text="ISO 8601, UTC.")
    open_time_ms = serializers.IntegerField(help_text="Milliseconds since the epoch, UTC.")
    open = serializers.CharField(help_text="The venue's exact decimal text.")
    high = serializers.CharField()
    low = serializers.CharField()
    close = serializers.CharField()
    volume = serializers.CharField(help_text="Base-asset volume, exact decimal text.")
    closed = serializers.BooleanField(help_text="False: the still-open candle.")


class KlinesApi(APIView):
    """Candles of one market and interval, ascending, in pages that follow ``next`` (keyset on the open time:
    every page is an index range scan, however deep)."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "KlinesQuery"

        exchange = serializers.ChoiceField(choices=[v.value for v in Venue])
        symbol = serializers.CharField(max_length=64, help_text="Unified symbol: BTC/USDT, BTC/USDT:USDT.")
        interval = serializers.CharField(max_length=4, help_text="Platform code: 1s, 1m … 1d, 1w, 1M.")
        start = _UtcTimeField(required=False, help_text="Inclusive; date or ISO 8601 datetime, UTC.")
        end = _UtcTimeField(required=False, help_text="Exclusive; date or ISO 8601 datetime, UTC.")
        page_size = serializers.IntegerField(min_value=1, max_value=KLINES_MAX_PAGE_SIZE, default=KLINES_PAGE_SIZE)
        cursor = serializers.CharField(required=False, help_text="From a previous page's `next`.")

        def validate_interval(self, value: str) -> str:
            try:
                return interval_get(value).code
            except IntervalError as error:
                raise serializers.ValidationError(str(error)) from None

        def validate_cursor(self, value: str) -> int:  # type: ignore[override]
            try:
                return cursor_decode(value)
            except ValueError as error:
                raise serializers.ValidationError(str(error)) from None

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            start, end = attrs.get("start", 0), attrs.get("end", END_OF_TIME_MS)
            if start < 0:
                raise serializers.ValidationError({"start": ["Must not be before 1970-01-01."]})
            if end <= start:
                raise serializers.ValidationError({"end": ["Must be after start (end is exclusive)."]})
            return {**attrs, "start": start, "end": end}

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "KlinesPage"

        next = serializers.CharField(allow_null=True, help_text="The next page's URL; null on the last page.")
        results = CandleOutputSerializer(many=True)

    @extend_schema(
        operation_id="klines_list",
        parameters=[InputSerializer],
        responses={
            200: OutputSerializer,
            400: error_response(
                "`invalid`: an unknown exchange, symbol or interval (or one the venue does not offer), a bad "
                "date, `end` not after `start`, a bad page size or cursor — the field is named in `fields`."
            ),
        },
        tags=["market data"],
    )
    def get(self, request: Request) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        try:
            instrument = selectors.instrument_get(exchange=data["exchange"], symbol=data["symbol"])
        except Instrument.DoesNotExist:
            raise serializers.ValidationError(
                {"symbol": [f"No market {data['symbol']!r} on {data['exchange']}."]}
            ) from None
        try:
            venue_interval_code(Venue(instrument.exchange), MarketType(instrument.market_type), data["interval"])
        except IntervalError as error:
            raise serializers.ValidationError({"interval": [str(error)]}) from None
        start = max(data["start"], data.get("cursor", data["start"]))
        size = data["page_size"]
        # One row more than the page: its open time is where the next page starts, and its presence says there is one.
        candles = selectors.klines_read(
            instrument_id=instrument.pk, interval=data["interval"], start_ms=start, end_ms=data["end"], limit=size + 1
        )
        next_url = None
        if len(candles) > size:
            next_url = replace_query_param(
                request.build_absolute_uri(), "cursor", cursor_encode(candles[size].open_time)
            )
        page = {"next": next_url, "results": [candle_payload(c) for c in candles[:size]]}
        return Response(self.OutputSerializer(page).data)


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
        coverage = overview.markets_coverage(instruments=page)
        items = [market_payload(market, coverage[market.pk]) for market in page]
        return paginator.get_paginated_response(self.OutputSerializer(items, many=True).data)


def market_payload(market: Instrument, coverage: list[overview.IntervalCoverage]) -> dict[str, Any]:
    return {
        "id": market.pk,
        "exchange": market.exchange,
        "market_type": market.market_type,
        "symbol": market.symbol,
        "venue_symbol": market.venue_symbol,
        "tick_size": decimal_text(market.tick_size),
        "lot_size": decimal_text(market.lot_size),
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
