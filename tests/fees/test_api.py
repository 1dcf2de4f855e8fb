"""``POST /api/v1/fees/simulate/``: public, the same result JSON as the command, errors in the common format."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from fees.simulation import EXAMPLE_SCENARIO
from tests.fees.builders import EXAMPLE_RESULT

URL = "/api/v1/fees/simulate/"

pytestmark = pytest.mark.django_db


def test_anyone_can_simulate_the_issue_example(api_client: APIClient) -> None:
    response = api_client.post(URL, EXAMPLE_SCENARIO, format="json")

    assert response.status_code == 200
    assert json.loads(response.content) == EXAMPLE_RESULT


def test_a_signed_in_session_needs_no_csrf_token(user) -> None:  # type: ignore[no-untyped-def]
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(URL, EXAMPLE_SCENARIO, format="json")

    assert response.status_code == 200
    assert json.loads(response.content) == EXAMPLE_RESULT


def test_an_invalid_scenario_gets_the_common_error_naming_the_event(api_client: APIClient) -> None:
    bad = json.loads(json.dumps(EXAMPLE_SCENARIO))
    bad["events"][2]["type"] = "airdrop"

    response = api_client.post(URL, bad, format="json")

    assert response.status_code == 400
    message = "events[2]: unknown event type 'airdrop' (known: deposit, return, crystallise, withdraw)"
    assert response.json() == {
        "error": {"code": "invalid_scenario", "message": message, "fields": {"events[2].type": [message]}}
    }


def test_numbers_as_json_floats_are_refused(api_client: APIClient) -> None:
    bad = json.loads(json.dumps(EXAMPLE_SCENARIO))
    bad["events"][1]["gross"] = 0.2

    response = api_client.post(URL, bad, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "events[1].gross": ['events[1] (return): events[1].gross must be a decimal string such as "0.20", got 0.2']
    }


def test_get_is_not_allowed(api_client: APIClient) -> None:
    response = api_client.get(URL)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
