"""The custody REST endpoints: what a signing page (or an API client) needs — typed data to sign, posting
``eth_signTypedData_v4`` signatures, destinations, proposals with their state and reason, cancel — and the operators'
approvals and owner signatures. Auth and the common error format with stable codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from rest_framework.test import APIClient

from tests.factories import UserFactory, operator_session
from tests.vaults.custody.conftest import Custody
from vaults.custody.safe_tx import hash_sign
from vaults.models import SafeProposal, Withdrawal, WithdrawalDestination

pytestmark = pytest.mark.django_db

PAYOUT = 250 * 10**6


def client(user: Any = None) -> APIClient:
    api = APIClient()
    if user is not None:
        api.force_authenticate(user)
    return api


def token_client(user: Any, *, scopes: tuple[str, ...] = ("read",)) -> APIClient:
    """A REST client with one of ``user``'s API tokens (a bearer token, as a script would use)."""
    from accounts import services as account_services

    _, plaintext = account_services.api_token_create(user=user, name="ops script", scopes=scopes)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return api


def wallet_sign(typed_data: dict[str, Any], wallet: Any) -> str:
    """What a browser wallet's eth_signTypedData_v4 returns for the JSON typed data the API gave."""
    return "0x" + bytes(Account.sign_message(encode_typed_data(full_message=typed_data), wallet.key).signature).hex()


def create(c: Custody, **body: Any) -> Any:
    payload = {"vault": c.vault.slug, "amount": str(PAYOUT), "destination": c.wallet_a.address, **body}
    return client(c.depositor).post("/api/v1/custody/withdrawals/", payload, format="json")


def test_withdrawal_with_destination_returns_what_to_sign_and_two_wallets_authorise(custody: Custody) -> None:
    c = custody
    response = create(c)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["kind"], body["amount"]) == ("proposed", "withdrawal_linked_wallet", str(PAYOUT))
    typed = body["request"]["typed_data"]
    assert typed["primaryType"] == "WithdrawalRequest"
    assert typed["message"]["amount"] == str(PAYOUT) and typed["domain"]["verifyingContract"] == c.evm.safe
    # the hash shown is the EIP-712 digest a wallet computes from the JSON typed data
    signable = encode_typed_data(full_message=typed)
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert body["request"]["hash"] == "0x" + digest.hex() == SafeProposal.objects.get().request_hash
    assert Withdrawal.objects.get().state == "awaiting_signatures"

    url = f"/api/v1/custody/proposals/{body['id']}/signatures/"
    first = client(c.depositor).post(url, {"signature": wallet_sign(typed, c.wallet_a)}, format="json")
    assert first.status_code == 200 and first.json()["state"] == "proposed"
    again = client(c.depositor).post(url, {"signature": wallet_sign(typed, c.wallet_a)}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "signer_repeated"
    second = client(c.depositor).post(url, {"signature": wallet_sign(typed, c.wallet_b)}, format="json")
    assert second.status_code == 200
    done = second.json()
    assert done["state"] == "authorised"
    assert [(s["kind"], s["signer"]) for s in done["signatures"] if s["kind"] == "owner"] == [
        ("owner", c.evm.cosigner.address)
    ]
    assert Withdrawal.objects.get().state == "in_custody"

    # an operator adds an owner signature: signed
    operator = c.operators[0]
    owner_url = f"/api/v1/custody/proposals/{body['id']}/owner-signatures/"
    signature = "0x" + hash_sign(bytes.fromhex(body["safe_tx_hash"][2:]), c.evm.operators[0].key).hex()
    assert client(c.depositor).post(owner_url, {"signature": signature}, format="json").status_code == 403
    # refused from an API token, a stale MFA session, and a session of an operator without MFA: nothing added
    for refused, code in (
        (token_client(operator, scopes=("read", "trade", "custody")), "operator_session_required"),
        (operator_session(operator, mfa_age=timedelta(minutes=20)), "mfa_reauthentication_required"),
        (operator_session(c.operators[2], with_mfa=False), "mfa_not_set_up"),
    ):
        response = refused.post(owner_url, {"signature": signature}, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (403, code)
        assert SafeProposal.objects.get().signatures.filter(kind="owner").count() == 1  # the co-signer's only
    signed = operator_session(operator).post(owner_url, {"signature": signature}, format="json")
    assert signed.status_code == 200 and signed.json()["state"] == "signed"
    assert signed.json()["approvals"] == []


def test_refusals_have_stable_codes_and_change_nothing(custody: Custody) -> None:
    c = custody
    assert client().post("/api/v1/custody/withdrawals/", {}, format="json").status_code in (401, 403)
    elsewhere = Account.create().address
    refused = create(c, destination=elsewhere)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "destination_not_registered"
    assert (Withdrawal.objects.count(), SafeProposal.objects.count()) == (0, 0)  # no shares burned

    body = create(c).json()
    url = f"/api/v1/custody/proposals/{body['id']}/signatures/"
    stranger = Account.create()
    foreign = client(c.depositor).post(
        url, {"signature": wallet_sign(body["request"]["typed_data"], stranger)}, format="json"
    )
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "signer_not_linked"
    malformed = client(c.depositor).post(url, {"signature": "0x1234"}, format="json")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid"
    # someone else's proposal does not exist for them
    other = UserFactory()
    assert client(other).get(f"/api/v1/custody/proposals/{body['id']}/").status_code == 404
    assert client(other).post(url, {"signature": "0x" + "11" * 65}, format="json").status_code == 404
    assert client(other).get("/api/v1/custody/proposals/").json()["results"] == []
    # operators only
    approve = client(c.depositor).post(f"/api/v1/custody/proposals/{body['id']}/approvals/", {"decision": "approve"})
    assert approve.status_code == 403
    not_applicable = operator_session(c.operators[0]).post(
        f"/api/v1/custody/proposals/{body['id']}/approvals/", {"decision": "approve"}, format="json"
    )
    assert not_applicable.status_code == 400
    assert not_applicable.json()["error"]["code"] == "approval_not_applicable"
    assert SafeProposal.objects.get().signatures.count() == 0


def test_list_get_and_cancel_my_proposal(custody: Custody) -> None:
    c = custody
    body = create(c).json()
    mine = client(c.depositor).get("/api/v1/custody/proposals/").json()["results"]
    assert [p["id"] for p in mine] == [body["id"]]
    assert "approvals" not in mine[0]
    assert (
        client(c.operators[0]).get("/api/v1/custody/proposals/?state=proposed").json()["results"][0]["id"] == body["id"]
    )
    cancelled = client(c.depositor).post(f"/api/v1/custody/proposals/{body['id']}/cancel/")
    assert cancelled.status_code == 200
    assert (cancelled.json()["state"], cancelled.json()["state_reason"]) == ("cancelled", "cancelled by the depositor")
    twice = client(c.depositor).post(f"/api/v1/custody/proposals/{body['id']}/cancel/")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "proposal_state"
    # a fresh request for the same withdrawal, whose payout stayed reserved
    fresh = client(c.depositor).post(
        f"/api/v1/custody/withdrawals/{body['withdrawal']}/proposals/", {"destination": c.wallet_b.address}
    )
    assert fresh.status_code == 201
    assert (fresh.json()["request"]["nonce"], fresh.json()["request"]["destination"]) == ("2", c.wallet_b.address)
    withdrawal = client(c.depositor).get("/api/v1/vaults/me/withdrawals/").json()["results"][0]
    assert (withdrawal["state"], withdrawal["state_code"]) == ("awaiting_signatures", "cancelled")


def test_register_a_destination_with_two_wallet_signatures(custody: Custody) -> None:
    c = custody
    elsewhere = Account.create().address
    draft = client(c.depositor).post(
        "/api/v1/custody/destinations/typed-data/", {"address": elsewhere, "chain_id": c.evm.chain_id}, format="json"
    )
    assert draft.status_code == 200
    typed = draft.json()["typed_data"]
    assert typed["message"]["destination"] == elsewhere and draft.json()["nonce"] == "1"
    payload = {"address": elsewhere, "chain_id": c.evm.chain_id, "nonce": 1}
    one = client(c.depositor).post(
        "/api/v1/custody/destinations/", {**payload, "signatures": [wallet_sign(typed, c.wallet_a)]}, format="json"
    )
    assert one.status_code == 400 and one.json()["error"]["code"] == "signatures_too_few"
    assert WithdrawalDestination.objects.count() == 0
    both = [wallet_sign(typed, c.wallet_a), wallet_sign(typed, c.wallet_b)]
    registered = client(c.depositor).post(
        "/api/v1/custody/destinations/", {**payload, "signatures": both}, format="json"
    )
    assert registered.status_code == 201
    assert registered.json()["address"] == elsewhere
    replay = client(c.depositor).post("/api/v1/custody/destinations/", {**payload, "signatures": both}, format="json")
    assert replay.status_code == 400 and replay.json()["error"]["code"] == "already_registered"
    listed = client(c.depositor).get("/api/v1/custody/destinations/").json()["results"]
    assert [d["address"] for d in listed] == [elsewhere]
    # now a withdrawal to it can be requested (the co-signer pays it 48 h after registration)
    assert create(c, destination=elsewhere).json()["kind"] == "withdrawal_other_address"
