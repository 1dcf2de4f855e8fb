"""Vault API: public list/detail, only-mine reads, operator-only credit requests, withdrawal requests, statements."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import OperatorFactory, UserFactory, operator_session
from tests.vaults.builders import T0, deposit, vault_new
from vaults import services
from vaults.models import Deposit, ManualCredit, Vault, Withdrawal

pytestmark = pytest.mark.django_db


def _client(user=None) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_public_list_and_detail_with_nav_series_and_fees() -> None:
    vault, user = vault_new(), UserFactory()
    vault_new(slug="hidden", public=False)
    deposit(vault, user, 1_000_000)
    services.vault_return_record(vault_id=vault.pk, gross=Decimal("0.1"), at=Vault.objects.get(pk=vault.pk).settled_at)
    listing = _client().get("/api/v1/vaults/")
    assert listing.status_code == 200
    assert [v["slug"] for v in listing.json()["results"]] == ["usdc-core"]
    detail = _client().get("/api/v1/vaults/usdc-core/").json()
    assert detail["nav_per_share"] == "1.1"
    assert [p["nav_per_share"] for p in detail["nav_series"]] == ["1", "1.1"]
    assert detail["metrics"] == {"management_fee_charged": "0", "performance_fee_charged": "0", "nav_change": "0.1"}
    assert detail["allocation"]["gmx"] == {"weight": "0.2", "max": "0.25"}
    assert _client().get("/api/v1/vaults/hidden/").status_code == 404


def test_my_holdings_show_only_mine() -> None:
    vault, me, other = vault_new(), UserFactory(), UserFactory()
    deposit(vault, me, 1_000)
    deposit(vault, other, 5_000)
    assert _client().get("/api/v1/vaults/me/holdings/").status_code in (401, 403)
    holdings = _client(me).get("/api/v1/vaults/me/holdings/").json()["results"]
    assert len(holdings) == 1
    assert (holdings[0]["shares"], holdings[0]["value"], holdings[0]["net_value"]) == ("1000", "1000", "1000")
    deposits = _client(me).get("/api/v1/vaults/me/deposits/").json()["results"]
    assert [d["amount"] for d in deposits] == ["1000"]


def test_only_operators_request_offchain_credits_pending_and_repeats_are_idempotent() -> None:
    vault, user, operator = vault_new(), UserFactory(), OperatorFactory()
    body = {"depositor_id": user.pk, "amount": "2500000", "idempotency_key": "wire-1", "reason": "wire ref 7"}
    refused = operator_session(user).post("/api/v1/vaults/usdc-core/deposits/", body, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "operators_only")
    assert (Deposit.objects.count(), ManualCredit.objects.count()) == (0, 0)
    client = operator_session(operator)
    first = client.post("/api/v1/vaults/usdc-core/deposits/", body, format="json")
    again = client.post("/api/v1/vaults/usdc-core/deposits/", body, format="json")
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json() == again.json()
    assert (first.json()["state"], first.json()["amount"], first.json()["requested_by"]) == (
        "pending", "2500000", f"operator #{operator.pk}",
    )  # fmt: skip
    assert (Deposit.objects.count(), ManualCredit.objects.count()) == (0, 1)  # pending: no share minted
    assert Vault.objects.get(pk=vault.pk).shares_outstanding == 0
    bad = client.post("/api/v1/vaults/usdc-core/deposits/", {**body, "amount": "-5"}, format="json")
    assert bad.status_code == 400
    assert (Deposit.objects.count(), ManualCredit.objects.count()) == (0, 1)


def test_withdrawal_request_waits_for_custody_and_refusals_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timezone, "now", lambda: T0)  # the request comes at the deposit's instant: P = 1
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 1_000)
    too_much = _client(user).post("/api/v1/vaults/usdc-core/withdrawals/", {"shares": "1000.5"}, format="json")
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "insufficient_shares"
    not_a_number = _client(user).post("/api/v1/vaults/usdc-core/withdrawals/", {"shares": "4e0x"}, format="json")
    assert not_a_number.status_code == 400
    assert "shares" in not_a_number.json()["error"]["fields"]
    assert Withdrawal.objects.count() == 0
    response = _client(user).post("/api/v1/vaults/usdc-core/withdrawals/", {"shares": "400"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["state"], body["payout"]) == ("awaiting_signatures", "400")
    assert body["state_label"] == "Awaiting the depositor's two wallet signatures"
    mine = _client(user).get("/api/v1/vaults/me/withdrawals/").json()["results"]
    assert [w["id"] for w in mine] == [body["id"]]
    assert _client(UserFactory()).get("/api/v1/vaults/me/withdrawals/").json()["results"] == []


def test_statement_json_csv_pdf() -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 1_000_000)
    query = "start=2024-12-31T00:00:00Z&end=2025-07-02T00:00:00Z"
    statement = _client(user).get(f"/api/v1/vaults/usdc-core/statement/?{query}").json()
    assert statement["deposits"] == "1000000"
    assert statement["opening value"] == "0"
    csv = _client(user).get(f"/api/v1/vaults/usdc-core/statement/?{query}&download=csv")
    assert csv["Content-Type"].startswith("text/csv")
    assert b"deposits,1000000" in csv.content
    pdf = _client(user).get(f"/api/v1/vaults/usdc-core/statement/?{query}&download=pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4")
    bad = _client(user).get("/api/v1/vaults/usdc-core/statement/?start=yesterday&end=2025-01-02T00:00:00Z")
    assert bad.status_code == 400
