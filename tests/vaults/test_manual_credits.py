"""Issue 13 item 3: one staff account cannot mint shares from nothing.

A vault with a Safe credits only deposits proven on chain; an off-chain credit (a vault without a Safe) needs two
distinct operators, each acting from a session with MFA confirmed in the last 15 minutes and holding the role for
72 h; every request and decision is public on the vault's page and in its API. Each refusal leaves no deposit, no
share and no manual credit written (or the pending one unchanged).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from accounts import services as account_services
from tests.factories import OperatorFactory, UserFactory, operator_session
from tests.vaults.builders import deposit, vault_new
from vaults import services
from vaults.errors import VaultServiceError
from vaults.models import Deposit, ManualCredit, Vault, VaultSafe
from vaults.selectors import depositor_pseudonym

pytestmark = pytest.mark.django_db

URL = "/api/v1/vaults/usdc-core/deposits/"
AMOUNT = 2_500_000


def body(depositor: Any, key: str = "wire-1") -> dict[str, Any]:
    return {"depositor_id": depositor.pk, "amount": str(AMOUNT), "idempotency_key": key, "reason": "wire ref 7"}


def decide(client: Any, credit_id: int, decision: str = "approve", **extra: Any) -> Any:
    url = f"/api/v1/custody/manual-credits/{credit_id}/decision/"
    return client.post(url, {"decision": decision, **extra}, format="json")


def book(vault: Vault) -> tuple[Any, ...]:
    """What a refused credit must leave as it was."""
    vault = Vault.objects.get(pk=vault.pk)
    credits = tuple(ManualCredit.objects.order_by("id").values_list("id", "state", "decided_by_id", "deposit_id"))
    return (vault.shares_outstanding, vault.value, vault.lot_count, Deposit.objects.count(), credits)


def safe_add(vault: Vault) -> VaultSafe:
    """A Safe row for the vault (its address is never called: these refusals happen before any chain read)."""
    return VaultSafe.objects.create(
        vault=vault, chain_id=31337, address="0x" + f"{vault.pk:040x}", asset_contract="0x" + "70" * 20,
        owners=["0x" + "c0" * 20, "0x" + "0a" * 20], threshold=2, cosigner="0x" + "c0" * 20, deployed_block=0,
    )  # fmt: skip


def token_client(user: Any) -> Any:
    from rest_framework.test import APIClient

    # Every scope: what refuses it is the operator rule (no API token, ever), not a missing scope.
    _, plaintext = account_services.api_token_create(user=user, name="ops script", scopes=("read", "trade", "custody"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


# -- (a) a vault with a Safe: no manual credit at all ------------------------------------------------------------


def test_a_staff_bearer_token_cannot_credit_a_vault_with_a_safe() -> None:
    vault, depositor, operator = vault_new(), UserFactory(), OperatorFactory()
    deposit(vault, depositor, 1_000_000)  # seeded before the vault had its Safe
    safe_add(vault)
    before = book(vault)
    response = token_client(operator).post(URL, body(depositor), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "operator_session_required"
    assert book(vault) == before


def test_even_two_fresh_mfa_operators_cannot_credit_a_vault_with_a_safe_off_chain() -> None:
    vault, depositor, first, second = vault_new(), UserFactory(), OperatorFactory(), OperatorFactory()
    safe_add(vault)
    before = book(vault)
    response = operator_session(first).post(URL, body(depositor), format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "vault_has_safe")
    assert book(vault) == before
    # nor through the service directly
    with pytest.raises(VaultServiceError) as refused:
        services.vault_deposit_record(
            vault_id=vault.pk, depositor_id=depositor.pk, amount=AMOUNT, idempotency_key="x", recorded_by_id=first.pk
        )
    assert refused.value.code == "vault_has_safe"
    # a credit requested before the vault got its Safe cannot be approved after
    other = vault_new(slug="other")
    credit = services.manual_credit_request(
        vault_id=other.pk, depositor_id=depositor.pk, amount=AMOUNT, reason="wire", idempotency_key="early",
        requested_by_id=first.pk,
    ).credit  # fmt: skip
    safe_add(other)
    before = book(other)
    late = decide(operator_session(second), credit.pk)
    assert (late.status_code, late.json()["error"]["code"]) == (400, "vault_has_safe")
    assert book(other) == before
    assert ManualCredit.objects.get(pk=credit.pk).state == "pending"


# -- (b) off-chain credit of a vault without a Safe: two distinct operators with fresh MFA ----------------------


def test_one_operator_leaves_it_pending_the_same_operator_twice_does_not_count_a_second_one_applies() -> None:
    vault, depositor, first, second = vault_new(), UserFactory(), OperatorFactory(), OperatorFactory()
    requested = operator_session(first).post(URL, body(depositor), format="json")
    assert requested.status_code == 202
    credit_id = requested.json()["id"]
    pending = book(vault)
    assert pending[:4] == (0, 0, 0, 0)  # nothing minted while pending

    same = decide(operator_session(first), credit_id)
    assert (same.status_code, same.json()["error"]["code"]) == (403, "second_operator_required")
    assert book(vault) == pending

    stale = decide(operator_session(second, mfa_age=timedelta(minutes=20)), credit_id)
    assert (stale.status_code, stale.json()["error"]["code"]) == (403, "mfa_reauthentication_required")
    assert "re-authenticate with your authenticator" in stale.json()["error"]["message"]
    no_mfa = decide(operator_session(OperatorFactory(), with_mfa=False), credit_id)  # no authenticator set up
    assert (no_mfa.status_code, no_mfa.json()["error"]["code"]) == (403, "mfa_not_set_up")
    password_only = decide(operator_session(second, mfa_age=None), credit_id)
    assert (password_only.status_code, password_only.json()["error"]["code"]) == (403, "mfa_reauthentication_required")
    token = decide(token_client(second), credit_id)
    assert (token.status_code, token.json()["error"]["code"]) == (403, "operator_session_required")
    assert book(vault) == pending

    approved = decide(operator_session(second), credit_id)
    assert approved.status_code == 200, approved.json()
    assert (approved.json()["state"], approved.json()["decided_by"]) == ("applied", f"operator #{second.pk}")
    stored = Deposit.objects.get()
    assert (stored.depositor, stored.amount, stored.shares, stored.recorded_by, stored.source) == (
        depositor, Decimal(AMOUNT), Decimal(AMOUNT), first, "offchain",
    )  # fmt: skip
    assert ManualCredit.objects.get(pk=credit_id).deposit == stored
    assert Vault.objects.get(pk=vault.pk).shares_outstanding == AMOUNT
    again = decide(operator_session(second), credit_id)  # decided once
    assert (again.status_code, again.json()["error"]["code"]) == (409, "manual_credit_state")
    assert Deposit.objects.count() == 1


def test_a_rejection_credits_nothing() -> None:
    vault, depositor, first, second = vault_new(), UserFactory(), OperatorFactory(), OperatorFactory()
    credit_id = operator_session(first).post(URL, body(depositor), format="json").json()["id"]
    no_reason = decide(operator_session(second), credit_id, "reject")
    assert (no_reason.status_code, no_reason.json()["error"]["code"]) == (400, "reason_required")
    rejected = decide(operator_session(second), credit_id, "reject", reason="no wire arrived")
    assert rejected.status_code == 200
    assert (rejected.json()["state"], rejected.json()["decision_reason"]) == ("rejected", "no wire arrived")
    assert book(vault)[:4] == (0, 0, 0, 0)
    late = decide(operator_session(second), credit_id)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "manual_credit_state")
    assert Deposit.objects.count() == 0


def test_a_fresh_operator_made_by_a_superuser_cannot_be_the_second_operator() -> None:
    vault, depositor, superuser = vault_new(), UserFactory(), OperatorFactory()
    accomplice = UserFactory()
    account_services.operator_role_grant(user_id=accomplice.pk, granted_by_id=superuser.pk, via="admin")
    credit_id = operator_session(superuser).post(URL, body(depositor), format="json").json()["id"]
    pending = book(vault)
    response = decide(operator_session(accomplice), credit_id)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "operator_role_too_new")
    assert book(vault) == pending
    # the other way round: the fresh operator requests, the superuser approves
    by_fresh = operator_session(accomplice).post(URL, body(depositor, key="wire-2"), format="json")
    assert (by_fresh.status_code, by_fresh.json()["error"]["code"]) == (403, "operator_role_too_new")
    assert book(vault) == pending


# -- the public log ---------------------------------------------------------------------------------------------


def test_every_manual_credit_is_public_on_the_vault_page_and_api_without_emails() -> None:
    vault, depositor, first, second = vault_new(), UserFactory(), OperatorFactory(), OperatorFactory()
    applied = operator_session(first).post(URL, body(depositor), format="json").json()["id"]
    decide(operator_session(second), applied)
    pending = operator_session(second).post(URL, body(depositor, key="wire-2"), format="json").json()["id"]
    pseudonym = depositor_pseudonym(vault_id=vault.pk, depositor_id=depositor.pk)
    assert pseudonym.startswith("depositor ") and len(pseudonym) == len("depositor ") + 12

    detail = Client().get("/api/v1/vaults/usdc-core/").json()
    assert [
        (c["id"], c["kind"], c["state"], c["amount"], c["depositor"], c["reason"], c["requested_by"], c["decided_by"])
        for c in detail["manual_credits"]
    ] == [
        (pending, "offchain", "pending", str(AMOUNT), pseudonym, "wire ref 7", f"operator #{second.pk}", None),
        (applied, "offchain", "applied", str(AMOUNT), pseudonym, "wire ref 7", f"operator #{first.pk}",
         f"operator #{second.pk}"),
    ]  # fmt: skip
    page = Client().get("/vaults/usdc-core/").content.decode()
    section = page[page.index('id="manual-credits"') :]
    assert section.count(pseudonym) == 2 and "wire ref 7" in section
    assert f"operator #{first.pk}" in section and f"operator #{second.pk}" in section
    assert "Approved and credited" in section and "Waiting for a second operator" in section
    for email in (depositor.email, first.email, second.email):
        assert email not in page
        assert email not in str(detail)
