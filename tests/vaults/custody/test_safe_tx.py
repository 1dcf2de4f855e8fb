"""safeTxHash, signature recovery and packing: checked against the deployed Safe v1.4.1 and safe-eth-py."""

from __future__ import annotations

import io

import pytest
from eth_account import Account
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safe_eth.safe.safe_tx import SafeTx as LibrarySafeTx

from tests.vaults.custody.conftest import Evm
from vaults.custody import chain
from vaults.custody.cli import main as safe_cli
from vaults.custody.safe_tx import (
    SAFE_DOMAIN_TYPEHASH,
    SAFE_TX_TYPEHASH,
    SECP256K1_N,
    ZERO_ADDRESS,
    OwnerSignature,
    SafeTx,
    SafeTxError,
    hash_sign,
    safe_signature_recover,
    safe_tx_hash,
    signatures_pack,
    signatures_packed_check,
)

SAFE = "0x1234567890123456789012345678901234567890"
TARGET = "0xaBCdEf0000000000000000000000000000000001"


def test_type_hashes_are_the_safe_constants() -> None:
    # The constants Safe.sol v1.4.1 hard-codes.
    assert SAFE_TX_TYPEHASH.hex() == "bb8310d486368db6bd6f849402fdd73ad53d316b5a4b2644ad6efe0f941286d8"
    assert SAFE_DOMAIN_TYPEHASH.hex() == "47e79534a245952e8b16893a336b85a3d9ea9fa8c573f3d803afb92a79469218"


addresses = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
uint256 = st.integers(min_value=0, max_value=2**256 - 1)
small_uint = st.integers(min_value=0, max_value=2**64)
safe_txs = st.builds(
    SafeTx,
    to=addresses,
    value=uint256,
    data=st.binary(max_size=200),
    operation=st.sampled_from([0, 1]),
    nonce=uint256,
    safe_tx_gas=small_uint,
    base_gas=small_uint,
    gas_price=uint256,
    gas_token=addresses,
    refund_receiver=addresses,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tx=safe_txs)
def test_hash_equals_the_deployed_safes_get_transaction_hash(evm_session: Evm, tx: SafeTx) -> None:
    # getTransactionHash is a view: the session chain is not modified, so no snapshot is needed.
    assert safe_tx_hash(evm_session.chain_id, evm_session.safe, tx) == chain.safe_tx_hash_onchain(
        evm_session.w3, evm_session.safe, tx
    )


@settings(max_examples=40, deadline=None)
@given(tx=safe_txs, chain_id=st.integers(min_value=1, max_value=2**64), safe=addresses)
def test_hash_equals_safe_eth_py(tx: SafeTx, chain_id: int, safe: str) -> None:
    library = LibrarySafeTx(
        None,  # type: ignore[arg-type]  # no client: version, nonce and chain id are all given
        safe,  # type: ignore[arg-type]
        tx.to,  # type: ignore[arg-type]
        tx.value,
        tx.data,
        tx.operation,
        tx.safe_tx_gas,
        tx.base_gas,
        tx.gas_price,
        tx.gas_token,  # type: ignore[arg-type]
        tx.refund_receiver,  # type: ignore[arg-type]
        safe_nonce=tx.nonce,
        safe_version="1.4.1",
        chain_id=chain_id,
    )
    assert safe_tx_hash(chain_id, safe, tx) == bytes(library.safe_tx_hash)


def test_hash_changes_with_chain_safe_and_nonce() -> None:
    tx = SafeTx(to=TARGET, value=0, data=b"", operation=0, nonce=7)
    base = safe_tx_hash(1, SAFE, tx)
    assert safe_tx_hash(5, SAFE, tx) != base
    assert safe_tx_hash(1, TARGET, tx) != base
    assert safe_tx_hash(1, SAFE, SafeTx(to=TARGET, value=0, data=b"", operation=0, nonce=8)) != base


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"to": "0x12"}, "address_invalid"),
        ({"to": "0xABCdEf0000000000000000000000000000000001"}, "address_checksum"),  # one letter wrong case
        ({"operation": 2}, "operation_invalid"),
        ({"value": -1}, "uint_invalid"),
        ({"nonce": 2**256}, "uint_invalid"),
        ({"data": "0x"}, "data_invalid"),
    ],
)
def test_bad_fields_are_refused_with_a_code(fields: dict[str, object], code: str) -> None:
    values: dict[str, object] = {"to": TARGET, "value": 0, "data": b"", "operation": 0, "nonce": 0} | fields
    with pytest.raises(SafeTxError) as raised:
        SafeTx(**values)  # type: ignore[arg-type]
    assert raised.value.code == code


def test_all_lower_case_address_is_normalised() -> None:
    assert SafeTx(to=TARGET.lower(), value=0, data=b"", operation=0, nonce=0).to == TARGET


def test_recover_ecdsa_and_eth_sign() -> None:
    account = Account.create()
    digest = keccak(b"a safe transaction")
    signature = hash_sign(digest, account.key)
    assert signature[64] in (27, 28)
    assert safe_signature_recover(digest, signature) == account.address
    # eth_sign: the owner signed the EIP-191 prefixed hash; the Safe marks it with v + 4.
    prefixed = PrivateKey(account.key).sign_msg_hash(keccak(b"\x19Ethereum Signed Message:\n32" + digest))
    eth_sign = prefixed.r.to_bytes(32, "big") + prefixed.s.to_bytes(32, "big") + bytes([prefixed.v + 27 + 4])
    assert safe_signature_recover(digest, eth_sign) == account.address
    # The same signature over a different hash recovers someone else.
    assert safe_signature_recover(keccak(b"other"), signature) != account.address


def _high_s(signature: bytes) -> bytes:
    """The malleated twin's s (n - s)."""
    return (SECP256K1_N - int.from_bytes(signature[32:64], "big")).to_bytes(32, "big")


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda sig: sig[:64], "signature_length"),
        (lambda sig: sig[:64] + b"\x00", "signature_type"),  # EIP-1271 contract signature
        (lambda sig: sig[:64] + b"\x01", "signature_type"),  # pre-approved hash
        (lambda sig: sig[:32] + _high_s(sig) + sig[64:], "signature_malleable"),
        (lambda sig: bytes(32) + sig[32:], "signature_malleable"),  # r = 0
    ],
)
def test_unusable_signatures_are_refused(mutate, code: str) -> None:  # type: ignore[no-untyped-def]
    digest = keccak(b"x")
    with pytest.raises(SafeTxError) as raised:
        safe_signature_recover(digest, mutate(hash_sign(digest, Account.create().key)))
    assert raised.value.code == code


def _owners(count: int) -> list:  # type: ignore[type-arg]
    return [Account.create() for _ in range(count)]


def test_pack_sorts_by_owner_ascending() -> None:
    digest = keccak(b"tx")
    owners = _owners(4)
    signed = [OwnerSignature(owner.address, hash_sign(digest, owner.key)) for owner in owners]
    packed = signatures_pack(digest, reversed(signed))
    expected_order = sorted(owners, key=lambda owner: int(owner.address, 16))
    assert len(packed) == 4 * 65
    assert [safe_signature_recover(digest, packed[i * 65 : (i + 1) * 65]) for i in range(4)] == [
        owner.address for owner in expected_order
    ]
    assert signatures_packed_check(digest, packed, [o.address for o in owners], 4) == [
        o.address for o in expected_order
    ]


def test_pack_refuses_a_wrong_signer_and_a_duplicate_owner() -> None:
    digest = keccak(b"tx")
    alice, bob = _owners(2)
    with pytest.raises(SafeTxError) as raised:
        signatures_pack(digest, [OwnerSignature(alice.address, hash_sign(digest, bob.key))])
    assert raised.value.code == "signer_mismatch"
    with pytest.raises(SafeTxError) as raised:
        signatures_pack(digest, [OwnerSignature(alice.address, hash_sign(digest, alice.key))] * 2)
    assert raised.value.code == "owner_duplicate"


def test_packed_check_mirrors_the_safes_reverts() -> None:
    digest = keccak(b"tx")
    alice, bob, mallory = _owners(3)
    owners = [alice.address, bob.address]
    low, high = sorted([alice, bob], key=lambda owner: int(owner.address, 16))
    sig = {a.address: hash_sign(digest, a.key) for a in (alice, bob, mallory)}
    cases = {
        "signatures_too_few": sig[low.address],
        "signatures_unsorted": sig[high.address] + sig[low.address],
        "signer_not_owner": sig[mallory.address] + sig[alice.address],
        "signature_length": sig[low.address] + sig[high.address][:64],
    }
    for code, packed in cases.items():
        with pytest.raises(SafeTxError) as raised:
            signatures_packed_check(digest, packed, owners, 2)
        assert raised.value.code == code, code
    same_twice = sig[low.address] + sig[low.address]
    with pytest.raises(SafeTxError) as raised:
        signatures_packed_check(digest, same_twice, owners, 2)
    assert raised.value.code == "signatures_unsorted"


def test_cli_prints_the_hash() -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["tx-hash", "--chain-id", "1", "--safe", SAFE, "--to", TARGET, "--value", "5", "--data", "0x0102"]
    status = safe_cli([*argv, "--operation", "0", "--nonce", "3"], stdout=out, stderr=err)
    expected = safe_tx_hash(1, SAFE, SafeTx(to=TARGET, value=5, data=b"\x01\x02", operation=0, nonce=3))
    assert (status, out.getvalue(), err.getvalue()) == (0, "0x" + expected.hex() + "\n", "")


def test_cli_takes_every_field() -> None:
    out = io.StringIO()
    argv = ["tx-hash", "--chain-id", "0x89", "--safe", SAFE, "--to", TARGET, "--nonce", "9", "--operation", "1",
            "--safe-tx-gas", "100", "--base-gas", "200", "--gas-price", "300", "--gas-token", TARGET,
            "--refund-receiver", SAFE]  # fmt: skip
    assert safe_cli(argv, stdout=out, stderr=io.StringIO()) == 0
    tx = SafeTx(to=TARGET, value=0, data=b"", operation=1, nonce=9, safe_tx_gas=100, base_gas=200, gas_price=300,
                gas_token=TARGET, refund_receiver=SAFE)  # fmt: skip
    assert out.getvalue() == "0x" + safe_tx_hash(137, SAFE, tx).hex() + "\n"
    assert tx.gas_token != ZERO_ADDRESS


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "0x1234"], "to must be 0x followed by 40 hex digits"),
        (["--to", TARGET, "--data", "0x1"], "not an even-length hex string"),
        (["--to", TARGET, "--value", "1.5"], "not an integer"),
    ],
)
def test_cli_bad_input_exits_2_with_a_message_and_prints_no_hash(argv: list[str], message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    status = safe_cli(["tx-hash", "--chain-id", "1", "--safe", SAFE, "--nonce", "0", *argv], stdout=out, stderr=err)
    assert status == 2
    assert out.getvalue() == ""
    assert message in err.getvalue()


def test_with_the_safes_owners_a_non_owner_signature_is_packed_after_them() -> None:
    """The Safe reads its threshold's worth of entries from the front; a non-owner there would revert (GS026)."""
    from eth_account import Account

    from vaults.custody.safe_tx import OwnerSignature, hash_sign, signatures_pack

    digest = bytes(range(32))
    keys = sorted((Account.create() for _ in range(3)), key=lambda key: int(key.address, 16))
    outsider, *owners = keys  # the lowest address is the non-owner: plain ascending order would put it first
    items = [OwnerSignature(key.address, hash_sign(digest, key.key)) for key in keys]
    ascending = signatures_pack(digest, items)
    owners_first = signatures_pack(digest, items, owners=[owner.address for owner in owners])
    assert ascending == b"".join(item.signature for item in items)
    assert owners_first == items[1].signature + items[2].signature + items[0].signature
    assert outsider.address == items[0].owner
