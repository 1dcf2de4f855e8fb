"""Operators' admin for users, wallets, nonces and API tokens."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from eth_account import Account

from accounts import services
from accounts.models import ApiToken, User, Wallet
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(operator: User) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.mark.parametrize("model", ["user", "wallet", "walletnonce", "apitoken"])
def test_changelists_render_with_search_and_filters(admin_client: Client, user: User, model: str) -> None:
    Wallet.objects.create(user=user, address=Account.create().address, chain_id=1)
    services.wallet_nonce_create(
        user=user, address=Account.create().address, chain_id=1, domain="testserver", uri="http://testserver/"
    )
    services.api_token_create(user=user, name="ci")

    response = admin_client.get(reverse(f"admin:accounts_{model}_changelist"), {"q": user.email})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_user_list_displays_email_staff_active_joined(admin_client: Client, user: User) -> None:
    response = admin_client.get(reverse("admin:accounts_user_changelist"))

    assert response.context["cl"].list_display[1:5] == ["email", "display_name", "is_staff", "is_active"]
    assert user.email in response.content.decode()


def test_add_user_lower_cases_the_email_and_refuses_duplicates(admin_client: Client) -> None:
    url = reverse("admin:accounts_user_add")
    password = "a-Strong-passphrase-42"
    form = {"email": "New.Person@Example.COM", "usable_password": "true", "password1": password, "password2": password}

    response = admin_client.post(url, form)

    user = User.objects.get(email="new.person@example.com")
    assert response.status_code == 302
    assert user.check_password(password)
    duplicate = admin_client.post(url, {**form, "email": "NEW.person@example.com"})
    assert duplicate.status_code == 200
    assert "email" in duplicate.context["adminform"].form.errors
    assert User.objects.filter(email__iexact="new.person@example.com").count() == 1


def test_change_user(admin_client: Client, user: User) -> None:
    url = reverse("admin:accounts_user_change", args=[user.pk])
    assert admin_client.get(url).status_code == 200

    response = admin_client.post(
        url,
        {
            "email": user.email,
            "display_name": "Ada",
            "is_active": "on",
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2024-01-01",
            "date_joined_1": "00:00:00",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert (user.display_name, user.is_staff) == ("Ada", False)


def test_api_token_admin_never_shows_the_hash_and_cannot_add(admin_client: Client, user: User) -> None:
    token, plaintext = services.api_token_create(user=user, name="ci")

    response = admin_client.get(reverse("admin:accounts_apitoken_change", args=[token.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert token.key_hash not in content and plaintext not in content
    assert "key_hash" not in response.context["adminform"].form.fields
    assert admin_client.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    assert admin_client.get(reverse("admin:accounts_wallet_add")).status_code == 403


def test_revoke_action(admin_client: Client, user: User) -> None:
    first, _ = services.api_token_create(user=user, name="one")
    second, _ = services.api_token_create(user=UserFactory(), name="two")
    kept, _ = services.api_token_create(user=user, name="kept")

    response = admin_client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [first.pk, second.pk]},
    )

    assert response.status_code == 302
    assert set(ApiToken.objects.filter(revoked_at__isnull=False).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }
    assert ApiToken.objects.get(pk=kept.pk).revoked_at is None
