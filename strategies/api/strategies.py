"""``/api/v1/strategies/``: the registered strategies and their parameters (public)."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from strategies import selectors


class StrategiesApi(APIView):
    """Every strategy a run can name, with each parameter's name, type, default, whether it is required, and help."""

    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Strategy"

        class ParameterSerializer(serializers.Serializer):
            class Meta:
                ref_name = "StrategyParameter"

            name = serializers.CharField()
            type = serializers.CharField(help_text="int, Decimal (given as text), str or bool.")
            default = serializers.JSONField(allow_null=True, help_text="Decimals as text.")
            required = serializers.BooleanField()
            help = serializers.CharField(allow_blank=True)

        name = serializers.CharField()
        family = serializers.CharField(help_text="The risk layer's family: cex, aave, gmx, dex.")
        description = serializers.CharField()
        parameters = ParameterSerializer(many=True)

    @extend_schema(operation_id="strategies_list", responses=OutputSerializer(many=True), tags=["strategies"], auth=[])
    def get(self, request: Request) -> Response:
        described = [asdict(s) for s in selectors.strategies_registered()]
        return Response(self.OutputSerializer(described, many=True).data)
