"""API tokens: created once in plaintext, stored as a hash, authenticate as Bearer, revocable."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.core import tokens
from accounts.models import ApiToken, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKENS_URL = "/api/v1/tokens/"


def _bearer(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def _assert_error(response, status: int, code: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body["error"]


# -- services -----------------------------------------------------------------------------------------------


def test_create_returns_plaintext_once_and_stores_only_its_hash(user: User) -> None:
    token, plaintext = services.api_token_create(user=user, name="  notebook ")

    row = ApiToken.objects.get()
    assert row.pk == token.pk
    assert (row.user, row.name, row.prefix) == (user, "notebook", plaintext[:12])
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert (row.last_used_at, row.revoked_at) == (None, None)
    stored = [str(getattr(row, field.attname)) for field in ApiToken._meta.concrete_fields]
    secret = plaintext[len(row.prefix) + 1 :]
    assert not any(plaintext in value or secret in value for value in stored)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_create_refuses_a_bad_name(user: User, name: str) -> None:
    with pytest.raises(services.ApiTokenNameInvalid) as excinfo:
        services.api_token_create(user=user, name=name)

    assert excinfo.value.code == "api_token_name_invalid"
    assert ApiToken.objects.count() == 0


def test_revoke_is_idempotent(user: User) -> None:
    token, _ = services.api_token_create(user=user, name="ci")

    first = services.api_token_revoke(user=user, token_id=token.pk).revoked_at
    second = services.api_token_revoke(user=user, token_id=token.pk).revoked_at

    assert first is not None
    assert second == first == ApiToken.objects.get().revoked_at


def test_revoke_refuses_another_users_token(user: User) -> None:
    token, _ = services.api_token_create(user=UserFactory(), name="theirs")

    with pytest.raises(services.NotFound):
        services.api_token_revoke(user=user, token_id=token.pk)

    assert ApiToken.objects.get().revoked_at is None


def test_touch_writes_at_most_once_a_minute(user: User) -> None:
    token, _ = services.api_token_create(user=user, name="ci")
    now = timezone.now()

    assert services.api_token_touch(token_id=token.pk, now=now) is True
    assert services.api_token_touch(token_id=token.pk, now=now + timedelta(seconds=59)) is False
    assert ApiToken.objects.get().last_used_at == now
    assert services.api_token_touch(token_id=token.pk, now=now + timedelta(seconds=61)) is True
    assert ApiToken.objects.get().last_used_at == now + timedelta(seconds=61)


# -- Bearer authentication ----------------------------------------------------------------------------------


def test_bearer_token_authenticates_and_records_use(user: User) -> None:
    _, plaintext = services.api_token_create(user=user, name="ci")
    before = timezone.now()

    response = _bearer(plaintext).get("/api/v1/me/")

    assert response.status_code == 200
    assert response.json()["email"] == user.email
    last_used_at = ApiToken.objects.get().last_used_at
    assert last_used_at is not None and before <= last_used_at <= timezone.now()


def test_the_keyword_is_case_insensitive(user: User) -> None:
    _, plaintext = services.api_token_create(user=user, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {plaintext}")

    assert client.get("/api/v1/me/").json()["id"] == user.pk


def test_revoked_token_is_401_in_the_error_format(user: User) -> None:
    token, plaintext = services.api_token_create(user=user, name="ci")
    services.api_token_revoke(user=user, token_id=token.pk)

    response = _bearer(plaintext).get("/api/v1/me/")

    error = _assert_error(response, 401, "authentication_failed")
    assert error == {"code": "authentication_failed", "message": "Invalid, expired or revoked token.", "fields": {}}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert ApiToken.objects.get().last_used_at is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (f"Bearer {tokens.generate().plaintext}", "Invalid, expired or revoked token."),
        ("Bearer not-a-token", "Invalid, expired or revoked token."),
        ("Bearer", "Invalid Authorization header: expected 'Bearer <token>'."),
        ("Bearer a b", "Invalid Authorization header: expected 'Bearer <token>'."),
    ],
)
def test_unknown_or_malformed_tokens_are_401(db, header: str, message: str) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/me/")

    assert _assert_error(response, 401, "authentication_failed")["message"] == message
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_other_schemes_are_left_to_the_other_authenticators(db) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")

    _assert_error(client.get("/api/v1/me/"), 401, "not_authenticated")


def test_token_of_an_inactive_user_is_401() -> None:
    user = UserFactory(is_active=False)
    _, plaintext = services.api_token_create(user=user, name="ci")

    response = _bearer(plaintext).get("/api/v1/me/")

    assert _assert_error(response, 401, "authentication_failed")["message"] == "User inactive or deleted."


# -- /api/v1/tokens/ ----------------------------------------------------------------------------------------


def test_post_returns_the_token_once_and_the_list_never_shows_it(user: User, user_api_client: APIClient) -> None:
    response = user_api_client.post(TOKENS_URL, {"name": "research"}, format="json")

    assert response.status_code == 201
    body = response.json()
    row = ApiToken.objects.get()
    assert body == {
        "id": row.pk,
        "name": "research",
        "prefix": row.prefix,
        "scopes": ["read"],
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
        "expires_at": (row.created_at + timedelta(days=90)).isoformat().replace("+00:00", "Z"),
        "last_used_at": None,
        "revoked_at": None,
        "token": body["token"],
    }
    assert row.key_hash == hashlib.sha256(body["token"].encode()).hexdigest()
    listing = user_api_client.get(TOKENS_URL)
    assert listing.json()["results"] == [{key: value for key, value in body.items() if key != "token"}]
    assert body["token"] not in listing.content.decode()
    assert row.key_hash not in listing.content.decode()
    # The token works.
    assert _bearer(body["token"]).get("/api/v1/me/").json()["id"] == user.pk


def test_list_shows_only_own_tokens(user: User, user_api_client: APIClient) -> None:
    mine, _ = services.api_token_create(user=user, name="mine")
    services.api_token_create(user=UserFactory(), name="theirs")

    results = user_api_client.get(TOKENS_URL).json()["results"]

    assert [(row["id"], row["name"], row["prefix"]) for row in results] == [(mine.pk, "mine", mine.prefix)]


def test_post_validates_the_name(user_api_client: APIClient) -> None:
    error = _assert_error(user_api_client.post(TOKENS_URL, {"name": ""}, format="json"), 400, "invalid")

    assert error["fields"] == {"name": ["This field may not be blank."]}
    assert ApiToken.objects.count() == 0


def test_delete_revokes_idempotently(user: User, user_api_client: APIClient) -> None:
    token, plaintext = services.api_token_create(user=user, name="ci")

    assert user_api_client.delete(f"{TOKENS_URL}{token.pk}/").status_code == 204
    revoked_at = ApiToken.objects.get().revoked_at
    assert user_api_client.delete(f"{TOKENS_URL}{token.pk}/").status_code == 204

    assert revoked_at is not None and ApiToken.objects.get().revoked_at == revoked_at
    _assert_error(_bearer(plaintext).get("/api/v1/me/"), 401, "authentication_failed")


def test_another_users_token_cannot_be_revoked(user_api_client: APIClient) -> None:
    theirs, plaintext = services.api_token_create(user=UserFactory(), name="theirs")

    error = _assert_error(user_api_client.delete(f"{TOKENS_URL}{theirs.pk}/"), 404, "not_found")

    assert error["message"] == "No such API token."
    assert ApiToken.objects.get().revoked_at is None
    assert _bearer(plaintext).get("/api/v1/me/").status_code == 200


def test_unknown_ids_are_404(user_api_client: APIClient) -> None:
    _assert_error(user_api_client.delete(f"{TOKENS_URL}999999999999999999999/"), 404, "not_found")
    _assert_error(user_api_client.delete("/api/v1/wallets/999999999999999999999/"), 404, "not_found")


def test_schema_documents_bearer_authentication(db) -> None:  # type: ignore[no-untyped-def]
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()

    assert schema["components"]["securitySchemes"]["ApiToken"]["type"] == "http"
    assert schema["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
    assert {"ApiToken": []} in schema["paths"]["/api/v1/tokens/"]["get"]["security"]
    assert set(schema["paths"]["/api/v1/wallets/"]) == {"get", "post"}
    assert "PaginatedApiTokenList" in schema["components"]["schemas"]
