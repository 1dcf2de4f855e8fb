"""The public fee calculator API: ``POST /api/v1/fees/simulate/`` runs a scenario on the fee engine.

No sign-in and nothing stored: the request is a pure calculation (bounded in size by :mod:`fees.simulation`).
Errors come out in the common format, ``{"error": {"code": "invalid_scenario", "message", "fields"}}`` with
the JSON path of the offending value (``events[3].amount``) as the field name.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fees.simulation import EXAMPLE_SCENARIO, ScenarioError, scenario_simulate
from hftplatform.api.schema import error_response
from hftplatform.errors import ServiceError


class FeeSimulationDepositorSerializer(serializers.Serializer):
    class Meta:
        ref_name = "FeeSimulationDepositor"

    shares = serializers.CharField(help_text="18 decimal places.")
    value = serializers.CharField(help_text="shares · P in base units, rounded down.")
    net_value = serializers.CharField(help_text="value less the accrued performance fee, base units, rounded down.")
    management_fee = serializers.CharField(help_text="base units, exact to 50 decimal places.")
    performance_fee = serializers.CharField(help_text="crystallised, base units, exact to 50 decimal places.")
    paid_out = serializers.CharField(help_text="base units.")


class FeeSimulateApi(APIView):
    """Run a fee calculator scenario (issue 5's format) and return the state at its end."""

    authentication_classes = ()  # public and stateless: no session, so no CSRF token either
    permission_classes = (AllowAny,)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "FeeSimulationResult"

        nav_per_share = serializers.CharField(help_text="base units per share, exact to 50 decimal places.")
        management_fee_total = serializers.CharField()
        performance_fee_total = serializers.CharField()
        depositors = serializers.DictField(child=FeeSimulationDepositorSerializer())

    @extend_schema(
        operation_id="fees_simulate",
        tags=["fees"],
        request={"application/json": {"type": "object"}},
        responses={200: OutputSerializer, 400: error_response("`invalid_scenario`: the message names the event.")},
        examples=[OpenApiExample("Issue 5's example", value=EXAMPLE_SCENARIO, request_only=True)],
        auth=[],
    )
    def post(self, request: Request) -> Response:
        try:
            result = scenario_simulate(request.data)
        except ScenarioError as error:
            fields = {error.field: [error.message]} if error.field else {}
            raise ServiceError(error.message, code="invalid_scenario", fields=fields) from None
        return Response(result)
