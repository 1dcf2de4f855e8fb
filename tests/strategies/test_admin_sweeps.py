"""The admin shows sweeps and walk-forward studies with their progress, and changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from strategies.models import StrategySweep

pytestmark = pytest.mark.django_db


def test_sweeps_are_listed_with_their_progress_and_read_only(admin_client: Client) -> None:
    sweep = StrategySweep.objects.create(
        kind="sweep", strategy="leadlag", interval="1m", start_ms=0, end_ms=60_000, cash=Decimal(1),
        status="running", progress_done=24, progress_total=64,
    )  # fmt: skip
    listing = admin_client.get("/admin/strategies/strategysweep/")
    assert listing.status_code == 200
    assert b"24/64" in listing.content
    page = admin_client.get(f"/admin/strategies/strategysweep/{sweep.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # no form to save
    assert admin_client.get("/admin/strategies/strategysweep/add/").status_code == 403
    assert admin_client.post(f"/admin/strategies/strategysweep/{sweep.pk}/delete/", {"post": "yes"}).status_code == 403
    assert StrategySweep.objects.get(pk=sweep.pk).progress_done == 24
