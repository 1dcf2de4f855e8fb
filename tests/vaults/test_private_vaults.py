"""A private vault answers 404 to whoever holds nothing in it, exactly as a vault that does not exist: its withdraw
page, its statement and both withdrawal APIs. Its holders keep every one of them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.vaults.builders import T0, deposit, vault_new
from vaults.models import Vault, VaultAccount, VaultEvent, Withdrawal

pytestmark = pytest.mark.django_db

STATEMENT_QUERY = "start=2024-12-31T00:00:00Z&end=2025-01-02T00:00:00Z"


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _requests(user: Any, slug: str) -> dict[str, Any]:
    """Every depositor-facing endpoint of one vault, as ``user`` calls it."""
    return {
        "withdraw page": _page(user).get(f"/vaults/{slug}/withdraw/"),
        "statement": _api(user).get(f"/api/v1/vaults/{slug}/statement/?{STATEMENT_QUERY}"),
        "statement csv": _api(user).get(f"/api/v1/vaults/{slug}/statement/?{STATEMENT_QUERY}&download=csv"),
        "withdrawal": _api(user).post(f"/api/v1/vaults/{slug}/withdrawals/", {"shares": "1"}, format="json"),
        "custody withdrawal": _api(user).post(
            "/api/v1/custody/withdrawals/",
            {"vault": slug, "amount": "1", "destination": "0x" + "11" * 20},
            format="json",
        ),
    }


def _state() -> tuple[list[Any], ...]:
    return (
        list(Vault.objects.order_by("pk").values()),
        list(VaultAccount.objects.order_by("pk").values()),
        list(VaultEvent.objects.order_by("pk").values_list("pk", flat=True)),
        list(Withdrawal.objects.values_list("pk", flat=True)),
    )


def test_a_private_vault_is_a_404_to_a_non_holder_everywhere_as_if_it_did_not_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a private vault with a holder, and a signed-in stranger
    monkeypatch.setattr(timezone, "now", lambda: T0)
    vault = vault_new(slug="family-office", public=False)
    deposit(vault, UserFactory(), 1_000_000)
    stranger = UserFactory()
    before = _state()

    # When the stranger calls each endpoint of the private vault, and of a vault that does not exist
    private = _requests(stranger, "family-office")
    missing = _requests(stranger, "no-such-vault")

    # Then each answers 404, with the same body as for the missing vault, and nothing changed
    assert {name: response.status_code for name, response in private.items()} == dict.fromkeys(private, 404)
    for name, response in private.items():
        assert response.content == missing[name].content, name
    assert b"family" not in b"".join(response.content for response in private.values()).lower()
    assert _state() == before


def test_a_holder_of_a_private_vault_keeps_its_pages_and_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timezone, "now", lambda: T0)
    vault = vault_new(slug="family-office", public=False)
    holder = UserFactory()
    deposit(vault, holder, 1_000_000)

    page = _page(holder).get("/vaults/family-office/withdraw/")
    statement = _api(holder).get(f"/api/v1/vaults/family-office/statement/?{STATEMENT_QUERY}")
    withdrawal = _api(holder).post("/api/v1/vaults/family-office/withdrawals/", {"shares": "400"}, format="json")

    assert page.status_code == 200 and b"Family Office" in page.content
    assert (statement.status_code, statement.json()["deposits"]) == (200, "1000000")
    assert (withdrawal.status_code, withdrawal.json()["state"]) == (201, "awaiting_signatures")


def test_a_public_vault_still_answers_a_non_holder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timezone, "now", lambda: T0)
    vault_new(slug="usdc-core")
    stranger = UserFactory()
    assert _page(stranger).get("/vaults/usdc-core/withdraw/").status_code == 200
    statement = _api(stranger).get(f"/api/v1/vaults/usdc-core/statement/?{STATEMENT_QUERY}")
    assert (statement.status_code, statement.json()["deposits"]) == (200, "0")
    refused = _api(stranger).post("/api/v1/vaults/usdc-core/withdrawals/", {"shares": "1"}, format="json")
    assert refused.status_code == 400
