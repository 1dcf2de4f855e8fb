"""The depositor layer: the EIP-712 WithdrawalRequest and the two-linked-wallet authorisation check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from vaults.custody.withdrawal_request import (
    Authorisation,
    Refusal,
    WithdrawalRequest,
    WithdrawalRequestError,
    withdrawal_authorisation_check,
    withdrawal_request_hash,
    withdrawal_request_sign,
    withdrawal_request_typed_data,
)

VAULT = "0x1234567890123456789012345678901234567890"
DESTINATION = "0xaBCdEf0000000000000000000000000000000001"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DEADLINE = int((NOW + timedelta(hours=1)).timestamp())


def request_make(**fields: object) -> WithdrawalRequest:
    values: dict[str, object] = {
        "vault": VAULT,
        "depositor": 42,
        "shares": 0,
        "amount": 250 * 10**6,
        "destination": DESTINATION,
        "nonce": 3,
        "deadline": DEADLINE,
        "chain_id": 1,
    } | fields
    return WithdrawalRequest(**values)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None)
@given(
    depositor=st.integers(min_value=0, max_value=2**64),
    shares=st.integers(min_value=1, max_value=2**200),
    nonce=st.integers(min_value=0, max_value=2**64),
    chain_id=st.integers(min_value=1, max_value=2**32),
    destination=st.binary(min_size=20, max_size=20),
)
def test_hash_equals_eth_account_typed_data(
    depositor: int, shares: int, nonce: int, chain_id: int, destination: bytes
) -> None:
    request = request_make(
        depositor=depositor,
        shares=shares,
        amount=0,
        nonce=nonce,
        chain_id=chain_id,
        destination="0x" + destination.hex(),
    )
    reference = _hash_eip191_message(encode_typed_data(full_message=withdrawal_request_typed_data(request)))
    assert withdrawal_request_hash(request) == bytes(reference)


def test_a_wallet_signing_the_typed_data_is_recovered() -> None:
    # What a browser wallet does with eth_signTypedData_v4, done by eth-account: our check must accept it.
    wallet_a, wallet_b = Account.create(), Account.create()
    request = request_make()
    signatures = [
        bytes(Account.sign_typed_data(wallet.key, full_message=withdrawal_request_typed_data(request)).signature)
        for wallet in (wallet_a, wallet_b)
    ]
    result = withdrawal_authorisation_check(
        request, signatures, [wallet_a.address, wallet_b.address], NOW, set(), chain_id=1, vault=VAULT
    )
    assert isinstance(result, Authorisation)
    assert set(result.signers) == {wallet_a.address, wallet_b.address}
    assert list(result.signers) == sorted(result.signers, key=lambda address: int(address, 16))
    assert result.request_hash == withdrawal_request_hash(request)
    assert withdrawal_request_sign(request, wallet_a.key) == signatures[0]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"shares": 5, "amount": 5}, "quantity_invalid"),
        ({"shares": 0, "amount": 0}, "quantity_invalid"),
        ({"destination": "0x12"}, "address_invalid"),
        ({"nonce": -1}, "uint_invalid"),
        ({"chain_id": 0}, "chain_invalid"),
    ],
)
def test_bad_requests_cannot_be_built(fields: dict[str, object], code: str) -> None:
    with pytest.raises(WithdrawalRequestError) as raised:
        request_make(**fields)
    assert raised.value.code == code


class TestAuthorisation:
    def setup_method(self) -> None:
        self.wallet_a, self.wallet_b, self.stranger = Account.create(), Account.create(), Account.create()
        self.linked = [self.wallet_a.address, self.wallet_b.address]
        self.request = request_make()

    def check(self, request: WithdrawalRequest, signatures: list[bytes], **overrides: object) -> object:
        arguments: dict[str, object] = {
            "linked_wallets": self.linked,
            "now": NOW,
            "used_nonces": {0, 1, 2},
            "chain_id": 1,
            "vault": VAULT,
        } | overrides
        return withdrawal_authorisation_check(request, signatures, **arguments)  # type: ignore[arg-type]

    def signed(self, *wallets: object, request: WithdrawalRequest | None = None) -> list[bytes]:
        return [withdrawal_request_sign(request or self.request, wallet.key) for wallet in wallets]  # type: ignore[attr-defined]

    def refusal_code(self, result: object) -> str:
        assert isinstance(result, Refusal), result
        assert result.message
        return result.code

    def test_two_linked_wallets_authorise(self) -> None:
        result = self.check(self.request, self.signed(self.wallet_b, self.wallet_a))
        assert isinstance(result, Authorisation)
        assert result.request == self.request

    def test_one_signature_is_refused(self) -> None:
        assert self.refusal_code(self.check(self.request, self.signed(self.wallet_a))) == "signatures_too_few"

    def test_the_same_wallet_twice_is_refused(self) -> None:
        result = self.check(self.request, self.signed(self.wallet_a, self.wallet_a))
        assert self.refusal_code(result) == "signer_repeated"
        assert "two different linked wallets" in result.message  # type: ignore[attr-defined]

    def test_a_wallet_not_linked_is_refused(self) -> None:
        result = self.check(self.request, self.signed(self.wallet_a, self.stranger))
        assert self.refusal_code(result) == "signer_not_linked"
        assert self.stranger.address in result.message  # type: ignore[attr-defined]

    def test_a_signature_over_another_nonce_is_refused(self) -> None:
        other = request_make(nonce=4)
        signatures = self.signed(self.wallet_a) + self.signed(self.wallet_b, request=other)
        assert self.refusal_code(self.check(self.request, signatures)) == "signer_not_linked"

    def test_a_signature_over_another_chain_is_refused(self) -> None:
        other_chain = request_make(chain_id=5)
        signatures = self.signed(self.wallet_a, self.wallet_b, request=other_chain)
        # Presented as is: the request says chain 5, the vault is on chain 1.
        assert self.refusal_code(self.check(other_chain, signatures)) == "chain_mismatch"
        # Presented as a chain-1 request: the signatures do not recover to the linked wallets.
        assert self.refusal_code(self.check(self.request, signatures)) == "signer_not_linked"

    def test_another_vault_is_refused(self) -> None:
        other = request_make(vault=DESTINATION)
        assert self.refusal_code(self.check(other, self.signed(self.wallet_a, self.wallet_b, request=other))) == (
            "vault_mismatch"
        )

    def test_a_replayed_set_is_refused(self) -> None:
        signatures = self.signed(self.wallet_a, self.wallet_b)
        assert isinstance(self.check(self.request, signatures), Authorisation)
        assert self.refusal_code(self.check(self.request, signatures, used_nonces={3})) == "nonce_used"

    def test_an_expired_deadline_is_refused(self) -> None:
        signatures = self.signed(self.wallet_a, self.wallet_b)
        at_deadline = datetime.fromtimestamp(DEADLINE, tz=UTC)
        assert isinstance(self.check(self.request, signatures, now=at_deadline - timedelta(seconds=1)), Authorisation)
        result = self.check(self.request, signatures, now=at_deadline)
        assert self.refusal_code(result) == "deadline_passed"
        assert "2025-03-01T13:00:00+00:00" in result.message  # type: ignore[attr-defined]

    def test_a_malformed_signature_is_refused_not_skipped(self) -> None:
        signatures = [*self.signed(self.wallet_a, self.wallet_b), b"\x00" * 65]
        assert self.refusal_code(self.check(self.request, signatures)) == "signature_invalid"

    def test_a_naive_now_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError, match="aware"):
            self.check(self.request, self.signed(self.wallet_a, self.wallet_b), now=NOW.replace(tzinfo=None))
