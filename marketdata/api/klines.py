"""``/api/v1/klines/``: candles of one market and interval (public). The view validates its query, calls
selectors, and serialises; errors come out as ``{"error": {"code", "message", "fields"}}``.

Decimals are the stored text, as JSON strings (``"0.01000000"`` stays ``"0.01000000"``). Times: ``open_time`` ISO
8601 UTC and ``open_time_ms`` integer milliseconds UTC; query windows are half-open, ``end`` exclusive.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from hftplatform.api.schema import error_response
from marketdata import selectors
from marketdata.api.fields import UtcTimeField
from marketdata.core.candles import candle_payload
from marketdata.core.intervals import IntervalError, interval_get, venue_interval_code
from marketdata.core.venues import MarketType, Venue
from marketdata.models import Instrument

KLINES_PAGE_SIZE = 500
KLINES_MAX_PAGE_SIZE = 5000
# Past any candle (int64 milliseconds): an open window's end.
END_OF_TIME_MS = 2**63 - 1


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
        start = UtcTimeField(required=False, help_text="Inclusive; date or ISO 8601 datetime, UTC.")
        end = UtcTimeField(required=False, help_text="Exclusive; date or ISO 8601 datetime, UTC.")
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
