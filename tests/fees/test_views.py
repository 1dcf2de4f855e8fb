"""The calculator page: public, prefilled with the issue's example, wired to the API, no third-party script."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from fees.simulation import EXAMPLE_SCENARIO

pytestmark = pytest.mark.django_db


def test_the_page_is_public_and_prefilled(client: Client) -> None:
    response = client.get("/fees/calculator/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-api-url="/api/v1/fees/simulate/"' in html
    textarea = re.search(r'<textarea id="fee-scenario"[^>]*>(.*?)</textarea>', html, re.S)
    assert textarea is not None
    assert json.loads(textarea.group(1).replace("&quot;", '"')) == EXAMPLE_SCENARIO
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert "/static/js/fee_calculator.js" in scripts
    assert all(src.startswith("/static/") for src in scripts)  # no CDN
    assert 'href="/fees/calculator/"' in html  # the nav link
