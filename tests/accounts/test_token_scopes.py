"""Issue 13, item 9: API tokens have scopes (read, trade, custody) and an expiry, cannot create tokens or link
wallets (tests/accounts/test_wallet_link_security.py), and a password change or reset revokes them all."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts import api as accounts_api
from accounts import services
from accounts.models import ApiToken, User
from fees.api import FeeSimulateApi
from marketdata.models import LeadLagRun
from tests.factories import DEFAULT_PASSWORD
from vaults.models import Withdrawal

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-horse-battery-7"


def bearer(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code, response.json()
    return str(response.json()["error"]["message"])


# -- scopes ---------------------------------------------------------------------------------------------------


def test_a_read_token_reads_but_cannot_post_trade_or_custody_endpoints(user: User) -> None:
    _, plaintext = services.api_token_create(user=user, name="dashboard", scopes=["read"])
    client = bearer(plaintext)

    assert client.get("/api/v1/me/").json()["id"] == user.pk
    custody = client.post("/api/v1/custody/withdrawals/", {"vault": "v", "amount": "1", "destination": "0x"})
    vault_withdrawal = client.post("/api/v1/vaults/v/withdrawals/", {"shares": "1"}, format="json")
    trade = client.post("/api/v1/leadlag/", {}, format="json")

    assert error(custody, 403, "token_scope_missing") == "This token lacks the 'custody' scope (it has: read)."
    assert error(vault_withdrawal, 403, "token_scope_missing") == "This token lacks the 'custody' scope (it has: read)."
    assert error(trade, 403, "token_scope_missing") == "This token lacks the 'trade' scope (it has: read)."
    assert Withdrawal.objects.count() == 0 and LeadLagRun.objects.count() == 0


def test_a_trade_token_cannot_read_or_post_custody(user: User) -> None:
    _, plaintext = services.api_token_create(user=user, name="bot", scopes=["trade"])
    client = bearer(plaintext)

    read = client.get("/api/v1/me/")
    custody = client.post("/api/v1/custody/proposals/1/signatures/", {"signature": "0x"}, format="json")

    assert error(read, 403, "token_scope_missing") == "This token lacks the 'read' scope (it has: trade)."
    assert error(custody, 403, "token_scope_missing") == "This token lacks the 'custody' scope (it has: trade)."


def test_a_custody_token_passes_the_scope_check_of_custody_endpoints(user: User) -> None:
    _, plaintext = services.api_token_create(user=user, name="withdrawer", scopes=["custody"])

    response = bearer(plaintext).post("/api/v1/custody/withdrawals/", {}, format="json")

    # past authentication and the scope: the input is what is wrong
    assert error(response, 400, "invalid") == "The input is not valid: see fields."
    assert Withdrawal.objects.count() == 0


def test_every_api_write_names_the_scope_a_token_needs_or_is_for_sessions_only() -> None:
    session_only = {
        accounts_api.WalletsApi,
        accounts_api.WalletNonceApi,
        accounts_api.WalletDetailApi,
        accounts_api.ApiTokensApi,
        accounts_api.ApiTokenDetailApi,
    }
    unauthenticated = {FeeSimulateApi}  # public, authentication_classes = ()

    def views(patterns: list[Any]) -> list[type[APIView]]:
        found: list[type[APIView]] = []
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                found += views(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "view_class", None)
                if view is not None and issubclass(view, APIView):
                    found.append(view)
        return found

    writers = {
        view
        for view in views(get_resolver().url_patterns)
        if any(hasattr(view, method) for method in ("post", "put", "patch", "delete"))
    }
    assert session_only | unauthenticated <= writers
    undeclared = {
        view.__name__
        for view in writers - session_only - unauthenticated
        if getattr(view, "required_scope", None) not in {"trade", "custody"}
    }
    assert undeclared == set()
    assert all(getattr(view, "required_scope", None) is None for view in session_only)


def test_scopes_and_lifetime_are_checked(user: User) -> None:
    for scopes in ([], ["read", "admin"]):
        with pytest.raises(services.ApiTokenScopesInvalid) as refused:
            services.api_token_create(user=user, name="x", scopes=scopes)
        assert refused.value.code == "api_token_scopes_invalid"
    for lifetime in (timedelta(0), timedelta(days=365, seconds=1)):
        with pytest.raises(services.ApiTokenLifetimeInvalid):
            services.api_token_create(user=user, name="x", lifetime=lifetime)
    assert ApiToken.objects.count() == 0


def test_the_api_creates_a_token_with_its_scopes_and_expiry(user: User) -> None:
    client = APIClient()
    client.force_login(user)

    response = client.post(
        "/api/v1/tokens/", {"name": "ops", "scopes": ["custody", "read"], "expires_in_days": 7}, format="json"
    )

    assert response.status_code == 201, response.json()
    row = ApiToken.objects.get()
    assert row.scopes == ["read", "custody"]  # stored in the canonical order
    assert row.expires_at - row.created_at == timedelta(days=7)
    assert (response.json()["scopes"], response.json()["expires_at"]) == (
        ["read", "custody"],
        row.expires_at.isoformat().replace("+00:00", "Z"),
    )
    bad = client.post("/api/v1/tokens/", {"name": "x", "scopes": ["admin"]}, format="json")
    assert error(bad, 400, "invalid") == "The input is not valid: see fields."
    assert bad.json()["error"]["fields"] == {"scopes": ['0: "admin" is not a valid choice.']}
    assert ApiToken.objects.count() == 1


# -- expiry ---------------------------------------------------------------------------------------------------


def test_an_expired_token_is_refused(user: User) -> None:
    token, plaintext = services.api_token_create(user=user, name="old", lifetime=timedelta(days=1))
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())

    response = bearer(plaintext).get("/api/v1/me/")

    assert error(response, 401, "authentication_failed") == "Invalid, expired or revoked token."
    assert ApiToken.objects.get(pk=token.pk).last_used_at is None


def test_a_token_works_until_it_expires(user: User) -> None:
    token, plaintext = services.api_token_create(user=user, name="soon", lifetime=timedelta(days=1))
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(minutes=1))

    assert bearer(plaintext).get("/api/v1/me/").status_code == 200


# -- a password change or reset revokes every token -------------------------------------------------------------


def test_changing_the_password_revokes_every_token(user: User) -> None:
    first, first_plaintext = services.api_token_create(user=user, name="one", scopes=["read", "custody"])
    second, second_plaintext = services.api_token_create(user=user, name="two")
    earlier = timezone.now() - timedelta(days=1)
    already, _ = services.api_token_create(user=user, name="revoked before")
    ApiToken.objects.filter(pk=already.pk).update(revoked_at=earlier)
    theirs, theirs_plaintext = services.api_token_create(user=User.objects.create_user("other@example.com"), name="x")
    client = Client()
    client.force_login(user)

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": DEFAULT_PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302, response.content
    revoked = dict(ApiToken.objects.filter(user=user).values_list("pk", "revoked_at"))
    assert revoked[first.pk] is not None and revoked[first.pk] == revoked[second.pk]
    assert revoked[already.pk] == earlier  # an earlier revocation keeps its time
    for plaintext in (first_plaintext, second_plaintext):
        assert error(bearer(plaintext).get("/api/v1/me/"), 401, "authentication_failed")
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    assert bearer(theirs_plaintext).get("/api/v1/me/").status_code == 200


def test_resetting_the_password_by_email_revokes_every_token(user: User) -> None:
    token, plaintext = services.api_token_create(user=user, name="one")
    client = Client()

    client.post(reverse("account_reset_password"), {"email": user.email})
    [email] = mail.outbox
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", email.body)
    assert link is not None, email.body
    form_url = client.get(link.group(1))["Location"]  # allauth moves the key into the session first
    response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert response.status_code == 302, response.content
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert error(bearer(plaintext).get("/api/v1/me/"), 401, "authentication_failed")
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)


def test_an_operator_setting_a_users_password_in_the_admin_revokes_their_tokens(user: User) -> None:
    from tests.factories import OperatorFactory

    token, plaintext = services.api_token_create(user=user, name="one")
    operator = Client()
    operator.force_login(OperatorFactory())

    response = operator.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302, response.content
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert error(bearer(plaintext).get("/api/v1/me/"), 401, "authentication_failed")
