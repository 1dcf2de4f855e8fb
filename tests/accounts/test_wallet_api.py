"""/api/v1/me/ and /api/v1/wallets/: linking over REST, errors in the common format, ownership."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rest_framework.test import APIClient

from accounts.core import siwe
from accounts.models import User, Wallet, WalletNonce
from tests.accounts.conftest import reauthenticate, sign
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NONCE_URL = "/api/v1/wallets/nonce/"
WALLETS_URL = "/api/v1/wallets/"


def _challenge(client: APIClient, account: LocalAccount, chain_id: int = 1, **extra: str) -> dict[str, str]:
    response = client.post(NONCE_URL, {"address": account.address, "chain_id": chain_id}, format="json", **extra)
    assert response.status_code == 201, response.json()
    return response.json()


def _link(client: APIClient, message: str, signature: str, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(WALLETS_URL, {"message": message, "signature": signature}, format="json", **extra)


def _assert_error(response, status: int, code: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    return body["error"]


def test_me_returns_the_signed_in_user(user: User, user_api_client: APIClient) -> None:
    response = user_api_client.get("/api/v1/me/")

    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "email": user.email,
        "display_name": "",
        "date_joined": user.date_joined.isoformat().replace("+00:00", "Z"),
        "mfa_enabled": False,
    }


def test_me_reports_mfa_once_totp_is_active(user: User, user_api_client: APIClient) -> None:
    TOTP.activate(user, generate_totp_secret())

    assert user_api_client.get("/api/v1/me/").json()["mfa_enabled"] is True


def test_anonymous_requests_get_401_with_bearer_challenge(api_client: APIClient) -> None:
    for response in (api_client.get("/api/v1/me/"), api_client.get(WALLETS_URL), api_client.post(NONCE_URL)):
        error = _assert_error(response, 401, "not_authenticated")
        assert error["message"] == "Authentication credentials were not provided."
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_nonce_endpoint_issues_a_message_for_the_request_host(
    user: User, user_api_client: APIClient, eth_key: LocalAccount
) -> None:
    body = _challenge(user_api_client, eth_key, chain_id=10)

    message = siwe.parse(body["message"])
    row = WalletNonce.objects.get(user=user)
    assert set(body) == {"nonce", "message", "vouch_message", "expires_at"}
    assert body["vouch_message"] == (
        "testserver asks you to vouch for a new wallet.\n\n"
        f"Link {eth_key.address} on chain 10 to the account that holds this wallet and let it authorise "
        f"withdrawals at once.\n\nNonce: {row.nonce}"
    )
    assert body["nonce"] == row.nonce == message.nonce
    assert body["expires_at"] == row.expires_at.isoformat().replace("+00:00", "Z")
    assert (message.domain, message.uri, message.address, message.chain_id) == (
        "testserver",
        "http://testserver/",
        eth_key.address,
        10,
    )
    assert message.expiration == row.expires_at


def test_nonce_endpoint_validates_input(user_api_client: APIClient) -> None:
    error = _assert_error(user_api_client.post(NONCE_URL, {"address": "0x12"}, format="json"), 400, "invalid")
    assert error["fields"] == {"chain_id": ["This field is required."]}

    response = user_api_client.post(NONCE_URL, {"address": "0x12", "chain_id": 1}, format="json")
    error = _assert_error(response, 400, "wallet_address_invalid")
    assert error["fields"] == {"address": ["An address is 0x followed by 40 hexadecimal digits."]}

    response = user_api_client.post(NONCE_URL, {"address": Account.create().address, "chain_id": 56}, format="json")
    _assert_error(response, 400, "wallet_chain_unsupported")
    assert WalletNonce.objects.count() == 0


def test_link_then_list(user: User, user_api_client: APIClient, eth_key: LocalAccount) -> None:
    body = _challenge(user_api_client, eth_key)

    response = user_api_client.post(
        WALLETS_URL,
        {"message": body["message"], "signature": sign(eth_key, body["message"]), "label": "cold"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    wallet = Wallet.objects.get()
    expected = {
        "id": wallet.pk,
        "address": eth_key.address,
        "chain_id": 1,
        "label": "cold",
        "created_at": wallet.created_at.isoformat().replace("+00:00", "Z"),
        "vouched_by": "",
        "withdrawals_from": (wallet.created_at + timedelta(hours=48)).isoformat().replace("+00:00", "Z"),
    }
    assert response.json() == expected
    assert wallet.user == user
    listing = user_api_client.get(WALLETS_URL).json()
    assert listing == {"next": None, "previous": None, "results": [expected]}


def test_list_shows_only_own_wallets_newest_first(user: User, user_api_client: APIClient) -> None:
    now = timezone.now()
    older = Wallet.objects.create(user=user, address=Account.create().address, chain_id=1, created_at=now)
    newer = Wallet.objects.create(
        user=user, address=Account.create().address, chain_id=1, created_at=now + timedelta(seconds=1)
    )
    Wallet.objects.create(user=UserFactory(), address=Account.create().address, chain_id=1)

    results = user_api_client.get(WALLETS_URL).json()["results"]

    assert [row["id"] for row in results] == [newer.pk, older.pk]


def test_list_is_cursor_paginated(user: User, user_api_client: APIClient) -> None:
    for _ in range(3):
        Wallet.objects.create(user=user, address=Account.create().address, chain_id=1)

    first = user_api_client.get(WALLETS_URL, {"page_size": 2}).json()
    second = user_api_client.get(first["next"]).json()

    assert len(first["results"]) == 2 and len(second["results"]) == 1
    assert {row["id"] for row in first["results"] + second["results"]} == set(
        Wallet.objects.values_list("pk", flat=True)
    )


def test_link_refuses_another_signer(
    user_api_client: APIClient, eth_key: LocalAccount, other_eth_key: LocalAccount
) -> None:
    body = _challenge(user_api_client, eth_key)

    error = _assert_error(
        _link(user_api_client, body["message"], sign(other_eth_key, body["message"])),
        400,
        "wallet_signature_mismatch",
    )

    assert error["fields"] == {"signature": [error["message"]]}
    assert Wallet.objects.count() == 0
    assert WalletNonce.objects.get(nonce=body["nonce"]).used_at is None


def test_link_refuses_a_reused_nonce(user_api_client: APIClient, eth_key: LocalAccount) -> None:
    body = _challenge(user_api_client, eth_key)
    signature = sign(eth_key, body["message"])
    wallet_id = _link(user_api_client, body["message"], signature).json()["id"]
    assert user_api_client.delete(f"{WALLETS_URL}{wallet_id}/").status_code == 204

    _assert_error(_link(user_api_client, body["message"], signature), 400, "wallet_nonce_used")

    assert Wallet.objects.count() == 0


def test_link_refuses_an_expired_nonce(user_api_client: APIClient, eth_key: LocalAccount) -> None:
    body = _challenge(user_api_client, eth_key)
    WalletNonce.objects.filter(nonce=body["nonce"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    _assert_error(_link(user_api_client, body["message"], sign(eth_key, body["message"])), 400, "wallet_nonce_expired")

    assert Wallet.objects.count() == 0
    assert WalletNonce.objects.get(nonce=body["nonce"]).used_at is None


def test_link_refuses_another_users_nonce(user_api_client: APIClient, eth_key: LocalAccount) -> None:
    other_client = APIClient()
    other_client.force_login(UserFactory())
    reauthenticate(other_client)
    body = _challenge(other_client, eth_key)

    _assert_error(_link(user_api_client, body["message"], sign(eth_key, body["message"])), 400, "wallet_nonce_unknown")

    assert Wallet.objects.count() == 0
    assert WalletNonce.objects.get(nonce=body["nonce"]).used_at is None


def test_link_refuses_a_message_issued_for_another_host(user_api_client: APIClient, eth_key: LocalAccount) -> None:
    body = _challenge(user_api_client, eth_key, HTTP_HOST="localhost")
    assert siwe.parse(body["message"]).domain == "localhost"

    error = _assert_error(
        _link(user_api_client, body["message"], sign(eth_key, body["message"])), 400, "siwe_domain_mismatch"
    )

    assert error["message"] == "The message is for localhost, not for testserver."
    assert Wallet.objects.count() == 0
    assert WalletNonce.objects.get(nonce=body["nonce"]).used_at is None


def test_link_refuses_an_address_linked_to_another_user(user_api_client: APIClient, eth_key: LocalAccount) -> None:
    owner_client = APIClient()
    owner = UserFactory()
    owner_client.force_login(owner)
    reauthenticate(owner_client)
    first = _challenge(owner_client, eth_key)
    assert _link(owner_client, first["message"], sign(eth_key, first["message"])).status_code == 201
    body = _challenge(user_api_client, eth_key)

    error = _assert_error(
        _link(user_api_client, body["message"], sign(eth_key, body["message"])), 409, "wallet_already_linked"
    )

    assert error["message"] == f"{eth_key.address} is already linked to another account."
    assert list(Wallet.objects.values_list("user", flat=True)) == [owner.pk]
    assert WalletNonce.objects.get(nonce=body["nonce"]).used_at is None


def test_link_refuses_a_malformed_message_and_missing_fields(user_api_client: APIClient) -> None:
    error = _assert_error(_link(user_api_client, "hello", "0x" + "00" * 65), 400, "siwe_message_invalid")
    assert error["fields"] == {"message": [error["message"]]}

    error = _assert_error(user_api_client.post(WALLETS_URL, {"message": "x"}, format="json"), 400, "invalid")
    assert error["fields"] == {"signature": ["This field is required."]}
    assert Wallet.objects.count() == 0


def test_several_wallets_per_user(user_api_client: APIClient) -> None:
    keys = [Account.create() for _ in range(3)]
    for key in keys:
        body = _challenge(user_api_client, key)
        assert _link(user_api_client, body["message"], sign(key, body["message"])).status_code == 201

    results = user_api_client.get(WALLETS_URL).json()["results"]

    assert sorted(row["address"] for row in results) == sorted(key.address for key in keys)


def test_unlink_another_users_wallet_is_404(user_api_client: APIClient) -> None:
    theirs = Wallet.objects.create(user=UserFactory(), address=Account.create().address, chain_id=1)

    error = _assert_error(user_api_client.delete(f"{WALLETS_URL}{theirs.pk}/"), 404, "not_found")

    assert error["message"] == "No such wallet."
    assert Wallet.objects.filter(pk=theirs.pk).exists()


def test_unlink_own_wallet(user: User, user_api_client: APIClient) -> None:
    mine = Wallet.objects.create(user=user, address=Account.create().address, chain_id=1)

    response = user_api_client.delete(f"{WALLETS_URL}{mine.pk}/")

    assert response.status_code == 204
    assert not Wallet.objects.filter(pk=mine.pk).exists()


def test_session_clients_need_csrf_for_writes(user: User, eth_key: LocalAccount) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    error = _assert_error(
        client.post(NONCE_URL, {"address": eth_key.address, "chain_id": 1}, format="json"), 403, "permission_denied"
    )

    assert "CSRF" in str(error["message"])
    assert WalletNonce.objects.count() == 0
