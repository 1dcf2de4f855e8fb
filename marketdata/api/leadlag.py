"""``/api/v1/leadlag/``: stored lead-lag results (GET, public) and new runs (POST, authenticated).

GET ``?symbol=BTC/USDT&interval=1m&start=2024-01-01&end=2024-02-01`` lists finished runs of the symbol whose window
lies inside ``[start, end)`` (newest first), each with its full report (``pairs``: leader, follower, lag_seconds,
xcorr_peak, hy_ratio, granger_p, information_share, component_share, rolling …). POST creates a run after checking
the data exist and queues it after commit; it answers 202 with the run id. Errors use the common format.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hftplatform.api.schema import error_response
from marketdata import selectors, services
from marketdata.api.fields import UtcTimeField
from marketdata.core.candles import open_time_iso
from marketdata.core.leadlag.markets import MarketSpecError, leadlag_markets_parse
from marketdata.models import LeadLagRun
from marketdata.tasks import leadlag_run

RUNS_LIMIT = 50


def run_payload(run: LeadLagRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "symbol": run.symbol,
        "interval": run.interval,
        "start": open_time_iso(run.start_ms),
        "end": open_time_iso(run.end_ms),
        "start_ms": run.start_ms,
        "end_ms": run.end_ms,
        "status": run.status,
        "progress": {"done": run.progress_done, "total": run.progress_total},
        "error": run.error,
        "created": run.created,
        "finished_at": run.finished_at,
        "timings": run.timings,
        "result": run.outputs or None,
    }


class LeadLagApi(APIView):
    """GET: stored lead-lag results of a market. POST (signed in): start a run."""

    required_scope = "trade"  # what an API token needs to POST here (accounts.authentication)

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if self.request.method == "GET" else [IsAuthenticated()]

    class ListInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LeadLagQuery"

        symbol = serializers.CharField(max_length=64, help_text="Unified symbol of the run: BTC/USDT.")
        interval = serializers.CharField(max_length=4, required=False)
        start = UtcTimeField(required=False, help_text="Runs whose window starts at or after; UTC.")
        end = UtcTimeField(required=False, help_text="Runs whose window ends at or before (exclusive); UTC.")

    class CreateInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LeadLagRunCreate"

        symbol = serializers.CharField(max_length=64, required=False, help_text="For venues given without one.")
        exchanges = serializers.CharField(help_text="binance,coinbase,bybit or binance:BTC/USDT,coinbase:BTC/USD")
        interval = serializers.CharField(max_length=4)
        start = UtcTimeField()
        end = UtcTimeField(help_text="Exclusive.")
        max_lag = serializers.IntegerField(min_value=1, max_value=10_000, default=30, help_text="Grid steps.")

    class RunSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LeadLagRun"

        id = serializers.IntegerField()
        symbol = serializers.CharField()
        interval = serializers.CharField()
        start = serializers.CharField()
        end = serializers.CharField()
        start_ms = serializers.IntegerField()
        end_ms = serializers.IntegerField()
        status = serializers.CharField()
        progress = serializers.DictField()
        error = serializers.CharField(allow_blank=True)
        created = serializers.DateTimeField()
        finished_at = serializers.DateTimeField(allow_null=True)
        timings = serializers.DictField(help_text="Seconds per stage.")
        result = serializers.JSONField(allow_null=True, help_text="The report: see the leadlag command's --json.")

    @extend_schema(
        operation_id="leadlag_list",
        parameters=[ListInputSerializer],
        responses={200: RunSerializer(many=True), 400: error_response("`invalid`: a bad symbol or date.")},
        tags=["market data"],
    )
    def get(self, request: Request) -> Response:
        query = self.ListInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        runs = selectors.leadlag_runs_list(
            symbol=data["symbol"], interval=data.get("interval"), start_ms=data.get("start"), end_ms=data.get("end")
        )[:RUNS_LIMIT]
        return Response(self.RunSerializer([run_payload(r) for r in runs], many=True).data)

    @extend_schema(
        operation_id="leadlag_create",
        request=CreateInputSerializer,
        responses={
            202: RunSerializer,
            400: error_response(
                "`invalid`: an unknown exchange, market or interval, a venue with no candles in the window, "
                "windows that do not overlap, a constant price. `leadlag_over_budget`: the run's cost (grid steps "
                "x markets x max_lag) is over `LEADLAG_COST_BUDGET`; the message states both."
            ),
            401: error_response("`not_authenticated`."),
            429: error_response(
                "`leadlag_too_many_runs`: `LEADLAG_USER_CONCURRENCY` of your runs are queued or running."
            ),
        },
        tags=["market data"],
    )
    def post(self, request: Request) -> Response:
        body = self.CreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            markets = leadlag_markets_parse(data["exchanges"], data.get("symbol"))
        except MarketSpecError as error:
            raise serializers.ValidationError({"exchanges": [str(error)]}) from None
        with transaction.atomic():
            run = services.leadlag_run_create(
                markets=markets,
                interval=data["interval"],
                start_ms=data["start"],
                end_ms=data["end"],
                max_lag=data["max_lag"],
                created_by_id=request.user.pk,
            )
            leadlag_run.delay_on_commit(run.pk)
        return Response(self.RunSerializer(run_payload(run)).data, status=status.HTTP_202_ACCEPTED)
