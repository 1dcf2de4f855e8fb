"""``/api/v1/strategy-runs/``: backtest runs. GET lists the signed-in user's runs (an operator's: every run), newest
first; POST creates a backtest after checking every input and queues it after commit (202 with the run), which
needs a session or a token with the ``trade`` scope. ``/<id>/`` is one run with its progress, metrics and result;
``/<id>/trades/``, ``/<id>/nav/`` and ``/<id>/refusals/`` page through its fills, NAV points and refusals.

Money is exact decimal text; times ISO 8601 UTC with their integer milliseconds. Errors use the common format.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hftplatform.api.schema import error_response
from hftplatform.core.decimal_text import decimal_text_keep_scale, decimal_text_trim_zeros
from hftplatform.core.utc import utc_from_ms, utc_iso
from marketdata.api.fields import UtcTimeField
from strategies import selectors, services
from strategies.core.costs import FeeModel
from strategies.models import StrategyLedgerEntry, StrategyNavPoint, StrategyRefusal, StrategyRun
from strategies.tasks import strategy_run_execute_task


def _iso(ms: int | None) -> str | None:
    return None if ms is None else utc_iso(utc_from_ms(ms))


def run_payload(run: StrategyRun) -> dict[str, Any]:
    result = run.result or {}
    return {
        "id": run.pk,
        "strategy": run.strategy,
        "mode": run.mode,
        "status": run.status,
        "markets": [{"exchange": m["exchange"], "symbol": m["symbol"]} for m in run.markets],
        "interval": run.interval,
        "start": _iso(run.start_ms),
        "end": _iso(run.end_ms),
        "start_ms": run.start_ms,
        "end_ms": run.end_ms,
        "parameters": run.parameters,
        "cost_model": run.cost_model,
        "risk_limits": run.risk_limits,
        "cash": decimal_text_trim_zeros(run.cash),
        "numeraire": run.numeraire,
        "progress": {"done": run.progress_done, "total": run.progress_total},
        "final_nav": None if run.final_nav is None else decimal_text_keep_scale(run.final_nav),
        "metrics": result.get("metrics"),
        "result": result or None,
        "error": run.error,
        "created": run.created,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "timings": run.timings,
    }


class RunSerializer(serializers.Serializer):
    class Meta:
        ref_name = "StrategyRun"

    id = serializers.IntegerField()
    strategy = serializers.CharField()
    mode = serializers.CharField(help_text="backtest, paper or live.")
    status = serializers.CharField(help_text="queued, running, done, failed or stopped.")
    markets = serializers.ListField(child=serializers.DictField(), help_text="[{exchange, symbol}] in run order.")
    interval = serializers.CharField()
    start = serializers.CharField()
    end = serializers.CharField(allow_null=True, help_text="Exclusive.")
    start_ms = serializers.IntegerField()
    end_ms = serializers.IntegerField(allow_null=True)
    parameters = serializers.DictField(help_text="Every parameter, defaults filled in; decimals as text.")
    cost_model = serializers.DictField()
    risk_limits = serializers.DictField()
    cash = serializers.CharField(help_text="Starting cash in the numeraire, exact decimal text.")
    numeraire = serializers.CharField()
    progress = serializers.DictField(help_text="{done, total} steps: the strategy's, then the benchmark's.")
    final_nav = serializers.CharField(allow_null=True, help_text="Exact decimal text, to 1e-8.")
    metrics = serializers.DictField(allow_null=True, help_text="sharpe, sortino, … hit_rate, profit_factor.")
    result = serializers.JSONField(
        allow_null=True, help_text="metrics, returns (basis, periods), attribution, benchmark (hold), counts, fees."
    )
    error = serializers.CharField(allow_blank=True)
    created = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    timings = serializers.DictField(help_text="Seconds per stage.")


class _RunsPagination(CursorPagination):
    ordering = ("-created", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class _SeqPagination(CursorPagination):
    ordering = ("seq",)
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000


class _TimePagination(CursorPagination):
    ordering = ("time_ms",)
    page_size = 1000
    page_size_query_param = "page_size"
    max_page_size = 10_000


class _RefusalPagination(CursorPagination):
    ordering = ("time_ms", "id")
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000


def _paginated(
    view: APIView, request: Request, paginator: CursorPagination, rows: QuerySet[Any], serializer: Any, payload: Any
) -> Response:
    page = paginator.paginate_queryset(rows, request, view=view) or []
    return paginator.get_paginated_response(serializer([payload(row) for row in page], many=True).data)


class StrategyRunsApi(APIView):
    """GET: the signed-in user's runs (an operator's: every run), newest first. POST: a backtest, queued."""

    permission_classes = [IsAuthenticated]
    required_scope = "trade"  # what an API token needs to POST here (accounts.authentication)

    class CreateInputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StrategyRunCreate"

        strategy = serializers.CharField(max_length=32, help_text="A registered strategy: see /api/v1/strategies/.")
        exchanges = serializers.ListField(
            child=serializers.CharField(max_length=16), min_length=1, max_length=8, help_text="Venues in order."
        )
        symbol = serializers.CharField(max_length=64, help_text="Unified symbol: BTC/USDT.")
        interval = serializers.CharField(max_length=4)
        start = UtcTimeField(help_text="Date or ISO 8601 datetime, UTC unless it carries an offset.")
        end = UtcTimeField(help_text="Exclusive.")
        parameters = serializers.DictField(required=False, default=dict, help_text="Decimals as text.")
        cash = serializers.CharField(max_length=40, required=False, default="10000", help_text="Decimal text.")
        fee_model = serializers.ChoiceField(choices=[m.value for m in FeeModel], default=FeeModel.VENUE.value)
        slippage_bps = serializers.CharField(max_length=20, required=False, default="0", help_text="Decimal text.")
        latency_ms = serializers.IntegerField(min_value=0, max_value=86_400_000, default=0)
        risk_limits = serializers.DictField(required=False, default=dict)

    @extend_schema(operation_id="strategy_runs_list", responses=RunSerializer(many=True), tags=["strategies"])
    def get(self, request: Request) -> Response:
        runs = selectors.strategy_runs_list(user=request.user)
        return _paginated(self, request, _RunsPagination(), runs, RunSerializer, run_payload)

    @extend_schema(
        operation_id="strategy_runs_create",
        request=CreateInputSerializer,
        responses={
            202: RunSerializer,
            400: error_response(
                "`strategy_unknown`, `strategy_parameter_invalid`, `strategy_market_unknown` (venue, symbol, "
                "interval), `strategy_no_candles`, `strategy_window_invalid`, `strategy_cash_invalid`, "
                "`strategy_cost_invalid`, `invalid`."
            ),
            401: error_response("`not_authenticated`."),
            403: error_response("`token_scope_missing`: the token lacks the `trade` scope."),
            429: error_response("`strategy_too_many_runs`: two of your backtests are queued or running."),
        },
        tags=["strategies"],
    )
    def post(self, request: Request) -> Response:
        body = self.CreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            run = services.strategy_run_create(
                strategy=data["strategy"],
                exchanges=data["exchanges"],
                symbol=data["symbol"],
                interval=data["interval"],
                start=utc_from_ms(data["start"]),
                end=utc_from_ms(data["end"]),
                parameters=data["parameters"],
                cash=data["cash"],
                fee_model=data["fee_model"],
                slippage_bps=data["slippage_bps"],
                latency_ms=data["latency_ms"],
                risk_limits=data["risk_limits"],
                created_by=request.user,
            )
            strategy_run_execute_task.delay_on_commit(run.pk)
        return Response(RunSerializer(run_payload(run)).data, status=status.HTTP_202_ACCEPTED)


def _run(request: Request, run_id: int) -> StrategyRun:
    """The run if the user may see it; otherwise a 404, whether it exists or not."""
    try:
        return selectors.strategy_run_get(run_id=run_id, user=request.user)
    except StrategyRun.DoesNotExist:
        raise NotFound("No such strategy run.") from None


class StrategyRunDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="strategy_runs_detail",
        responses={200: RunSerializer, 404: error_response("`not_found`: no such run of yours.")},
        tags=["strategies"],
    )
    def get(self, request: Request, run_id: int) -> Response:
        return Response(RunSerializer(run_payload(_run(request, run_id))).data)


def trade_payload(entry: StrategyLedgerEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "time": _iso(entry.time_ms),
        "time_ms": entry.time_ms,
        "venue": entry.venue,
        "symbol": entry.symbol,
        "side": entry.side,
        "quantity": decimal_text_trim_zeros(entry.quantity),
        "price": decimal_text_trim_zeros(entry.price),
        "fee": decimal_text_trim_zeros(entry.fee),
        "fee_asset": entry.fee_asset,
        "amount": decimal_text_trim_zeros(entry.amount),
        "reference_price": decimal_text_trim_zeros(entry.reference_price),
        "slippage": decimal_text_trim_zeros(entry.slippage),
        "tag": entry.tag,
    }


class TradeSerializer(serializers.Serializer):
    class Meta:
        ref_name = "StrategyTrade"

    seq = serializers.IntegerField(help_text="Position in the run's ledger.")
    time = serializers.CharField(help_text="The fill's time, ISO 8601 UTC.")
    time_ms = serializers.IntegerField()
    venue = serializers.CharField()
    symbol = serializers.CharField()
    side = serializers.CharField()
    quantity = serializers.CharField(help_text="Base units, exact decimal text.")
    price = serializers.CharField()
    fee = serializers.CharField()
    fee_asset = serializers.CharField()
    amount = serializers.CharField(help_text="Cash change in the numeraire.")
    reference_price = serializers.CharField(help_text="The price before slippage.")
    slippage = serializers.CharField()
    tag = serializers.CharField(allow_blank=True)


class StrategyRunTradesApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="strategy_runs_trades", responses=TradeSerializer(many=True), tags=["strategies"])
    def get(self, request: Request, run_id: int) -> Response:
        run = _run(request, run_id)
        rows = selectors.strategy_ledger_list(run_id=run.pk, kind="trade")
        return _paginated(self, request, _SeqPagination(), rows, TradeSerializer, trade_payload)


def nav_payload(point: StrategyNavPoint) -> dict[str, Any]:
    return {
        "time": _iso(point.time_ms),
        "time_ms": point.time_ms,
        "nav": decimal_text_keep_scale(point.nav),
        "exposed": point.exposed,
    }


class NavSerializer(serializers.Serializer):
    class Meta:
        ref_name = "StrategyNavPoint"

    time = serializers.CharField(help_text="The step's time (a bar's close), ISO 8601 UTC.")
    time_ms = serializers.IntegerField()
    nav = serializers.CharField(help_text="Exact decimal text, to 1e-8 of the numeraire.")
    exposed = serializers.BooleanField(help_text="A position was open.")


class StrategyRunNavApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="strategy_runs_nav", responses=NavSerializer(many=True), tags=["strategies"])
    def get(self, request: Request, run_id: int) -> Response:
        run = _run(request, run_id)
        rows = selectors.strategy_nav_list(run_id=run.pk)
        return _paginated(self, request, _TimePagination(), rows, NavSerializer, nav_payload)


def refusal_payload(refusal: StrategyRefusal) -> dict[str, Any]:
    return {
        "time": _iso(refusal.time_ms),
        "time_ms": refusal.time_ms,
        "market": refusal.market,
        "side": refusal.side,
        "quantity": refusal.quantity,
        "reason": refusal.reason,
        "detail": refusal.detail,
    }


class RefusalSerializer(serializers.Serializer):
    class Meta:
        ref_name = "StrategyRefusal"

    time = serializers.CharField()
    time_ms = serializers.IntegerField()
    market = serializers.CharField(help_text="venue:symbol")
    side = serializers.CharField(allow_blank=True)
    quantity = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(help_text="halted, stale_data, price_band, position_limit, … insufficient_cash.")
    detail = serializers.CharField(allow_blank=True)


class StrategyRunRefusalsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="strategy_runs_refusals", responses=RefusalSerializer(many=True), tags=["strategies"])
    def get(self, request: Request, run_id: int) -> Response:
        run = _run(request, run_id)
        rows = selectors.strategy_refusals_list(run_id=run.pk)
        return _paginated(self, request, _RefusalPagination(), rows, RefusalSerializer, refusal_payload)
