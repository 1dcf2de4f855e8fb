"""The owner-signature endpoint recomputes the safeTxHash from the stored fields: a stored hash that is not the
hash of the stored transaction is refused (no signature added, nothing moves), and an accepted signature comes
back with the decoded call and the recomputed hash."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from tests.factories import operator_session
from tests.vaults.custody.conftest import VAULT_FUNDS, Custody
from tests.vaults.custody.test_custody_services import PAYOUT, assert_untouched, authorise, propose
from vaults.custody.calls import erc20_transfer_data, safe_call_describe
from vaults.custody.safe_tx import SafeTx, hash_sign, safe_tx_hash
from vaults.models import ProposalSignature, SafeProposal

pytestmark = pytest.mark.django_db


def _post(user: Any, proposal_id: int, signature: str) -> Any:
    client = operator_session(user)  # operator actions need a session with MFA confirmed in the last 15 minutes
    return client.post(
        f"/api/v1/custody/proposals/{proposal_id}/owner-signatures/", {"signature": signature}, format="json"
    )


def test_a_stored_hash_that_is_not_the_fields_hash_is_refused_and_nothing_is_signed(custody: Custody) -> None:
    # Given an authorised withdrawal whose stored safeTxHash was replaced by the hash of a drain to an attacker
    c = custody
    proposal = authorise(c, propose(c))
    attacker = Account.create().address
    drain = SafeTx(to=c.evm.token, value=0, data=erc20_transfer_data(attacker, VAULT_FUNDS), operation=0, nonce=0)
    drain_hash = safe_tx_hash(c.evm.chain_id, c.evm.safe, drain)
    SafeProposal.objects.filter(pk=proposal.pk).update(safe_tx_hash="0x" + drain_hash.hex())
    signatures_before = list(ProposalSignature.objects.filter(proposal=proposal).values_list("kind", "signer"))

    # When an operator posts an owner's signature over the stored hash (what the API listed)
    signature = "0x" + hash_sign(drain_hash, c.evm.operators[0].key).hex()
    response = _post(c.operators[0], proposal.pk, signature)

    # Then a 400 naming the mismatch; no signature stored, still authorised, no token moved
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "safe_tx_hash_mismatch"
    assert error["message"] == (
        f"proposal {proposal.pk}: the stored safeTxHash 0x{drain_hash.hex()} is not the hash of its stored "
        f"transaction ({proposal.safe_tx_hash}); nothing is signed"
    )
    assert list(ProposalSignature.objects.filter(proposal=proposal).values_list("kind", "signer")) == (
        signatures_before
    )
    assert SafeProposal.objects.get(pk=proposal.pk).state == "authorised"
    assert_untouched(c, attacker, c.wallet_a.address)


def test_an_accepted_signature_returns_the_decoded_call_and_the_recomputed_hash(custody: Custody) -> None:
    c = custody
    proposal = authorise(c, propose(c))
    signature = "0x" + hash_sign(bytes.fromhex(proposal.safe_tx_hash[2:]), c.evm.operators[0].key).hex()

    response = _post(c.operators[0], proposal.pk, signature)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "signed"
    assert body["call"] == f"transfer(recipient={c.wallet_a.address}, amount={PAYOUT}) on {c.evm.token}"
    assert body["safe_tx_hash_recomputed"] == body["safe_tx_hash"] == proposal.safe_tx_hash


SAFE = "0x" + "5a" * 20
TOKEN = "0x" + "70" * 20


@pytest.mark.parametrize(
    ("to", "value", "data", "operation", "expected"),
    [
        (
            TOKEN,
            0,
            erc20_transfer_data("0x" + "11" * 20, 7),
            0,
            f"transfer(recipient=0x{'11' * 20}, amount=7) on {TOKEN}",
        ),
        (
            SAFE,
            0,
            bytes.fromhex("694e80c3") + (3).to_bytes(32, "big"),
            0,
            "changeThreshold(_threshold=3) on the Safe itself",
        ),
        (
            TOKEN,
            0,
            bytes.fromhex("deadbeef00"),
            0,
            f"an unrecognised call (selector 0xdeadbeef, 5 bytes of data) to {TOKEN}",
        ),
        (
            TOKEN,
            5,
            b"",
            1,
            f"no call data, to {TOKEN}, sending 5 wei of ether, as a DELEGATECALL (the target's code runs with the "
            "Safe's storage and funds)",
        ),
    ],
)
def test_safe_call_describe(to: str, value: int, data: bytes, operation: int, expected: str) -> None:
    assert safe_call_describe(safe=SAFE, to=to, value=value, data=data, operation=operation) == expected
