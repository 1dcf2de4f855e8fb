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


HOSTILE_NUMBERS = ["1E+200000", "1e-200000", "NaN", "Infinity", "-Infinity", "-0", "1_0", "1e3"]


@pytest.mark.parametrize(
    ("event", "field"),
    [(0, "amount"), (1, "gross"), (4, "shares")],
)
def test_hostile_numbers_in_a_scenario_are_a_400_naming_the_value(
    api_client: APIClient, event: int, field: str
) -> None:
    for value in HOSTILE_NUMBERS:
        scenario = json.loads(json.dumps(EXAMPLE_SCENARIO))
        scenario["events"][event][field] = value
        response = api_client.post(URL, scenario, format="json")
        if field == "gross" and value == "-0":
            assert response.status_code == 200  # a 0% return, written with its sign: a valid scenario
            continue
        assert response.status_code == 400, (field, value, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid_scenario"
        assert list(error["fields"]) == [f"events[{event}].{field}"]
        assert repr(value) in error["message"]


def test_hostile_json_numbers_in_a_scenario_are_a_400(api_client: APIClient) -> None:
    for number in ("1e200000", "1e-200000", "-0", "NaN", "Infinity"):
        for event, field in ((0, "amount"), (1, "gross"), (4, "shares")):
            scenario = json.loads(json.dumps(EXAMPLE_SCENARIO))
            scenario["events"][event][field] = "__N__"
            body = json.dumps(scenario).replace('"__N__"', number)
            response = api_client.generic("POST", URL, body, content_type="application/json")
            if (field, number) == ("gross", "-0"):
                assert response.status_code == 200  # JSON's -0 is the integer 0: a 0% return
                continue
            assert response.status_code == 400, (field, number, response.content)
            assert response.json()["error"]["code"] in {"invalid_scenario", "parse_error"}
