"""The API's shared behaviour: one error format, schema and docs, throttling, decimals as strings."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework import exceptions, serializers
from rest_framework.throttling import SimpleRateThrottle

from hftplatform.api.errors import exception_handler
from hftplatform.errors import ServiceError

pytestmark = pytest.mark.django_db


def test_unauthenticated_request_gets_401_in_the_error_format(api_client) -> None:
    response = api_client.get("/api/v1/status/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "fields": {},
        }
    }


def test_unknown_api_path_is_a_json_404(user_api_client) -> None:
    response = user_api_client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {"code": "not_found", "message": "No API endpoint at /api/v1/no-such-thing/.", "fields": {}}
    }


def test_wrong_method_is_a_405_in_the_error_format(user_api_client) -> None:
    response = user_api_client.delete("/api/v1/status/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.json()["error"]["message"] == 'Method "DELETE" not allowed.'


def test_validation_errors_name_their_fields() -> None:
    class Input(serializers.Serializer):
        amount = serializers.DecimalField(max_digits=10, decimal_places=2)
        address = serializers.CharField()

    serializer = Input(data={"amount": "abc"})
    with pytest.raises(exceptions.ValidationError) as raised:
        serializer.is_valid(raise_exception=True)
    response = exception_handler(raised.value, {})
    assert response is not None
    assert response.status_code == 400
    assert response.data == {
        "error": {
            "code": "invalid",
            "message": "The input is not valid: see fields.",
            "fields": {"amount": ["A valid number is required."], "address": ["This field is required."]},
        }
    }


def test_non_field_validation_errors_become_the_message() -> None:
    error = exceptions.ValidationError({"non_field_errors": ["Start must be before end."]})
    response = exception_handler(error, {})
    assert response is not None
    assert response.data == {"error": {"code": "invalid", "message": "Start must be before end.", "fields": {}}}


def test_service_errors_keep_their_code_and_fields() -> None:
    class WalletTaken(ServiceError):
        code = "wallet_already_linked"
        http_status = 409

    response = exception_handler(WalletTaken("That address is linked already.", fields={"address": ["taken"]}), {})
    assert response is not None
    assert response.status_code == 409
    assert response.data == {
        "error": {
            "code": "wallet_already_linked",
            "message": "That address is linked already.",
            "fields": {"address": ["taken"]},
        }
    }


def test_unexpected_exceptions_are_left_to_django() -> None:
    assert exception_handler(ZeroDivisionError(), {}) is None


def test_throttled_clients_get_429_in_the_error_format(user_api_client, monkeypatch) -> None:
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "2/minute"})
    cache.clear()
    codes = [user_api_client.get("/api/v1/status/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    body = user_api_client.get("/api/v1/status/").json()
    assert body["error"]["code"] == "throttled"
    assert body["error"]["message"].startswith("Request was throttled.")
    cache.clear()


def test_status_endpoint_returns_the_snapshot(user_api_client) -> None:
    cache.clear()
    response = user_api_client.get("/api/v1/status/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"server_time", "worker", "beat"}
    assert body["worker"] is None
    assert body["beat"] is None
    assert body["server_time"].endswith("Z") or body["server_time"].endswith("+00:00")


def test_schema_and_docs_are_public(api_client) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    document = schema.json()
    assert document["info"]["title"] == "HFT Bot API"
    assert "/api/v1/status/" in document["paths"]
    docs = api_client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_decimals_serialise_as_strings() -> None:
    class Output(serializers.Serializer):
        nav = serializers.DecimalField(max_digits=30, decimal_places=18)

    assert Output({"nav": Decimal("1.000000000000000001")}).data == {"nav": "1.000000000000000001"}
