"""The depositor layer: the EIP-712 WithdrawalRequest and the two-linked-wallet authorisation check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from vaults.custody.safe_tx import hash_sign
from vaults.custody.withdrawal_request import (
    Authorisation,
    Refusal,
    WithdrawalRequest,
    WithdrawalRequestError,
    distinct_linked_signers,
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


# -- the two-wallet signing loop both depositor messages share ---------------------------------------------------

DIGEST = bytes(range(32))
OTHER_CONTENT = "a different message: another nonce"
REPEATED_RULE = "two different linked wallets must sign"


def signers_check(signatures: list[bytes], linked: set[str]) -> tuple[str, ...] | Refusal:
    return distinct_linked_signers(DIGEST, signatures, linked, other_content=OTHER_CONTENT, repeated_rule=REPEATED_RULE)


def test_distinct_linked_signers_are_the_recovered_wallets_ascending() -> None:
    a, b = Account.create(), Account.create()
    low, high = sorted([a.address, b.address], key=lambda address: int(address, 16))
    signatures = [hash_sign(DIGEST, bytes(wallet.key)) for wallet in (a, b)]

    assert signers_check(signatures, {a.address, b.address}) == (low, high)
    assert signers_check(list(reversed(signatures)), {a.address, b.address}) == (low, high)
    # v 0/1, as some hardware wallets return it, recovers the same wallet
    raw = signatures[0][:64] + bytes([signatures[0][64] - 27])
    assert signers_check([raw], {a.address}) == (a.address,)


def test_the_same_wallet_twice_is_refused_at_its_second_signature() -> None:
    a = Account.create()
    first = hash_sign(DIGEST, bytes(a.key))
    again = first[:64] + bytes([first[64] - 27])  # the same signature spelled differently: still one wallet

    assert signers_check([first, again], {a.address}) == Refusal(
        "signer_repeated", f"signature 2 is from {a.address} again: {REPEATED_RULE}"
    )


def test_a_wallet_not_linked_is_refused_with_its_position_and_address() -> None:
    a, stranger = Account.create(), Account.create()
    signatures = [hash_sign(DIGEST, bytes(wallet.key)) for wallet in (a, stranger)]

    assert signers_check(signatures, {a.address}) == Refusal(
        "signer_not_linked",
        f"signature 2 recovers to {stranger.address}, which is not a wallet linked to this account "
        f"(or it was made over {OTHER_CONTENT})",
    )
    # a signature over other content recovers to an unrelated wallet: the same refusal
    elsewhere = hash_sign(bytes(32), bytes(a.key))
    refusal = signers_check([elsewhere], {a.address})
    assert isinstance(refusal, Refusal)
    assert refusal.code == "signer_not_linked"
    assert refusal.message.startswith("signature 1 recovers to 0x")
    assert a.address not in refusal.message


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (b"\x01" * 64, "a signature is 65 bytes (r|s|v), got 64"),
        (b"\x01" * 64 + bytes([29]), "v=29 is not an ECDSA recovery id (27/28 or 0/1)"),
        (bytes(64) + bytes([27]), "signature r/s out of range or s not canonical (EIP-2 low s)"),
    ],
)
def test_a_bad_signature_is_refused_before_the_next_is_looked_at(signature: bytes, reason: str) -> None:
    a = Account.create()
    good = hash_sign(DIGEST, bytes(a.key))

    assert signers_check([good, signature, good], {a.address}) == Refusal(
        "signature_invalid", f"signature 2 is unusable: {reason}"
    )
