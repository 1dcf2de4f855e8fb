"""The public fee calculator page: edit a scenario, see the result (computed by the API on the same engine)."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from fees.simulation import EXAMPLE_SCENARIO


@require_GET
def fee_calculator(request: HttpRequest) -> HttpResponse:
    context = {"example_scenario": json.dumps(EXAMPLE_SCENARIO, indent=2), "api_url": reverse("api:fees-simulate")}
    return render(request, "fees/calculator.html", context)
