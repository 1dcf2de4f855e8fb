"""DestinationRegistration: the EIP-712 hash equals what a wallet signs for the typed data
(``eth_signTypedData_v4``, here eth-account's implementation), and two distinct linked wallets are required."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from vaults.custody.destination_registration import (
    DestinationRegistration,
    DestinationRegistrationError,
    RegistrationAuthorisation,
    destination_registration_check,
    destination_registration_hash,
    destination_registration_sign,
    destination_registration_typed_data,
)
from vaults.custody.selectors import typed_data_json
from vaults.custody.withdrawal_request import Refusal

DESTINATION = "0x52908400098527886E0F7030069857D2E4169EE7"


def _registration(**changes: object) -> DestinationRegistration:
    fields: dict[str, object] = {"depositor": 42, "destination": DESTINATION, "nonce": 1, "chain_id": 8453}
    fields.update(changes)
    return DestinationRegistration(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("as_json", [False, True])
def test_the_hash_is_what_a_wallet_signs_for_the_typed_data(as_json: bool) -> None:
    registration = _registration()
    typed = destination_registration_typed_data(registration)
    message = encode_typed_data(full_message=typed_data_json(typed) if as_json else typed)
    wallet = Account.create()
    signed = Account.sign_message(message, wallet.key)
    assert bytes(signed.message_hash) == destination_registration_hash(registration)
    # and our signer produces the same signature a wallet returns
    assert bytes(signed.signature) == destination_registration_sign(registration, wallet.key)


def test_every_field_changes_the_hash() -> None:
    base = destination_registration_hash(_registration())
    others = [
        _registration(depositor=43),
        _registration(destination="0x" + "11" * 20),
        _registration(nonce=2),
        _registration(chain_id=1),
    ]
    assert len({base, *(destination_registration_hash(r) for r in others)}) == 5


def test_two_distinct_linked_wallets_authorise() -> None:
    a, b, stranger = Account.create(), Account.create(), Account.create()
    registration = _registration()
    linked = {a.address, b.address}

    def check(*keys: bytes, reg: DestinationRegistration = registration) -> RegistrationAuthorisation | Refusal:
        return destination_registration_check(
            registration, [destination_registration_sign(reg, k) for k in keys], linked
        )

    ok = check(a.key, b.key)
    assert isinstance(ok, RegistrationAuthorisation)
    assert ok.signers == tuple(sorted([a.address, b.address], key=lambda x: int(x, 16)))
    assert isinstance(one := check(a.key), Refusal) and one.code == "signatures_too_few"
    assert isinstance(twice := check(a.key, a.key), Refusal) and twice.code == "signer_repeated"
    assert isinstance(foreign := check(a.key, stranger.key), Refusal) and foreign.code == "signer_not_linked"
    other_nonce = check(a.key, b.key, reg=_registration(nonce=9))
    assert isinstance(other_nonce, Refusal) and other_nonce.code == "signer_not_linked"
    linked_destination = destination_registration_check(
        _registration(destination=a.address),
        [destination_registration_sign(_registration(destination=a.address), k) for k in (a.key, b.key)],
        linked,
    )
    assert isinstance(linked_destination, Refusal) and linked_destination.code == "destination_linked"


def test_bad_fields_are_refused() -> None:
    with pytest.raises(DestinationRegistrationError) as bad_address:
        _registration(destination="0x1234")
    assert bad_address.value.code == "address_invalid"
    with pytest.raises(DestinationRegistrationError) as bad_chain:
        _registration(chain_id=0)
    assert bad_chain.value.code == "chain_invalid"
