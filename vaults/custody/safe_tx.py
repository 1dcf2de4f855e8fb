"""Safe (v1.3.0+ / v1.4.1) transactions: the SafeTx struct, its EIP-712 ``safeTxHash``, EOA signatures and packing.

Pure: no Django, no RPC. Amounts (``value``, gas fields) are integers in the chain's base unit (wei, or the gas
token's base unit); addresses are EIP-55 checksummed ``str``; hashes and signatures are ``bytes``.

Facts this module encodes (Safe v1.4.1, ``Safe.sol`` / ``SignatureDecoder.sol``):
- domain: ``EIP712Domain(uint256 chainId,address verifyingContract)`` with the Safe proxy as verifying contract
  (the name/version fields are absent since v1.3.0, which added ``chainId``);
- the ``SafeTx`` type below; ``data`` enters the struct hash as ``keccak256(data)`` (EIP-712 ``bytes`` rule);
- ``execTransaction`` takes signatures packed as ``r (32) | s (32) | v (1)`` per owner, owners strictly ascending
  by address (``checkNSignatures`` requires ``currentOwner > lastOwner``, else GS026), at least ``threshold``
  of them (else GS020);
- ``v`` 27/28: ECDSA over the safeTxHash itself; ``v`` > 30: ``eth_sign`` over the prefixed hash, with ``v - 4``;
  ``v`` 0 (EIP-1271 contract) and 1 (pre-approved hash) are not EOA signatures and are refused here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from chains.addresses import AddressError
from chains.addresses import address_normalise as chain_address_normalise

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
UINT256_MAX = 2**256 - 1
# secp256k1 group order; signatures with s above half of it are the malleated twin of a canonical one (EIP-2).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

SAFE_TX_TYPE = (
    "SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,"
    "uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)
SAFE_TX_TYPEHASH = keccak(text=SAFE_TX_TYPE)
SAFE_DOMAIN_TYPE = "EIP712Domain(uint256 chainId,address verifyingContract)"
SAFE_DOMAIN_TYPEHASH = keccak(text=SAFE_DOMAIN_TYPE)

OPERATION_CALL = 0
OPERATION_DELEGATECALL = 1
SIGNATURE_LENGTH = 65


class SafeTxError(ValueError):
    """A SafeTx field or a signature that cannot be used; ``code`` is stable, the message says what is wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def address_normalise(value: str, *, field: str = "address") -> str:
    """:func:`chains.addresses.address_normalise`, refusing with a :class:`SafeTxError` (same code and message), the
    one error type of SafeTx fields."""
    try:
        return chain_address_normalise(value, field=field)
    except AddressError as error:
        raise SafeTxError(error.code, str(error)) from None


def _uint256_check(value: int, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
        raise SafeTxError("uint_invalid", f"{field} must be an integer in [0, 2**256 - 1], got {value!r}")


@dataclass(frozen=True)
class SafeTx:
    """One Safe transaction, field for field as ``execTransaction`` / ``getTransactionHash`` take it.

    ``value``, ``safe_tx_gas``, ``base_gas`` and ``gas_price`` are integers (wei or the gas token's base unit);
    ``operation`` is 0 (CALL) or 1 (DELEGATECALL); ``nonce`` is the Safe's transaction nonce it is valid for.
    Addresses are normalised to EIP-55 on construction; bad input raises :class:`SafeTxError`.
    """

    to: str
    value: int
    data: bytes
    operation: int
    nonce: int
    safe_tx_gas: int = 0
    base_gas: int = 0
    gas_price: int = 0
    gas_token: str = ZERO_ADDRESS
    refund_receiver: str = ZERO_ADDRESS

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", address_normalise(self.to, field="to"))
        object.__setattr__(self, "gas_token", address_normalise(self.gas_token, field="gas_token"))
        object.__setattr__(self, "refund_receiver", address_normalise(self.refund_receiver, field="refund_receiver"))
        if not isinstance(self.data, bytes):
            raise SafeTxError("data_invalid", f"data must be bytes, got {type(self.data).__name__}")
        if self.operation not in (OPERATION_CALL, OPERATION_DELEGATECALL) or isinstance(self.operation, bool):
            raise SafeTxError(
                "operation_invalid", f"operation must be 0 (CALL) or 1 (DELEGATECALL), got {self.operation!r}"
            )
        for field in ("value", "nonce", "safe_tx_gas", "base_gas", "gas_price"):
            _uint256_check(getattr(self, field), field)

    @property
    def selector(self) -> bytes | None:
        """The 4-byte function selector of ``data``, or None for a plain transfer of ``value`` (data shorter than 4)."""
        return self.data[:4] if len(self.data) >= 4 else None

    @property
    def pays_refund(self) -> bool:
        """True when the Safe would pay gas back to someone (``gasPrice`` > 0): a way to move funds out."""
        return self.gas_price > 0


def safe_domain_separator(chain_id: int, safe_address: str) -> bytes:
    """The Safe's EIP-712 domain separator (32 bytes), as ``domainSeparator()`` returns it on chain."""
    _uint256_check(chain_id, "chain_id")
    return keccak(abi_encode(["bytes32", "uint256", "address"], [SAFE_DOMAIN_TYPEHASH, chain_id, safe_address]))


def safe_tx_struct_hash(tx: SafeTx) -> bytes:
    """``hashStruct(SafeTx)`` (32 bytes)."""
    fields: list[tuple[str, object]] = [
        ("bytes32", SAFE_TX_TYPEHASH),
        ("address", tx.to),
        ("uint256", tx.value),
        ("bytes32", keccak(tx.data)),  # EIP-712 hashes dynamic ``bytes`` members
        ("uint8", tx.operation),
        ("uint256", tx.safe_tx_gas),
        ("uint256", tx.base_gas),
        ("uint256", tx.gas_price),
        ("address", tx.gas_token),
        ("address", tx.refund_receiver),
        ("uint256", tx.nonce),
    ]
    return keccak(abi_encode([kind for kind, _ in fields], [value for _, value in fields]))


def safe_tx_hash(chain_id: int, safe_address: str, tx: SafeTx) -> bytes:
    """The ``safeTxHash`` (32 bytes) that owners sign and ``getTransactionHash`` returns for this Safe and chain."""
    safe = address_normalise(safe_address, field="safe")
    return keccak(b"\x19\x01" + safe_domain_separator(chain_id, safe) + safe_tx_struct_hash(tx))


def hash_sign(message_hash: bytes, private_key: bytes) -> bytes:
    """An EOA ECDSA signature ``r | s | v`` (v 27/28, canonical low s) over a 32-byte hash, as Safe expects it."""
    if len(message_hash) != 32:
        raise SafeTxError("hash_invalid", f"a hash is 32 bytes, got {len(message_hash)}")
    signature = PrivateKey(private_key).sign_msg_hash(message_hash)
    r, s, v = int(signature.r), int(signature.s), int(signature.v)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v + 27])


def safe_signature_recover(message_hash: bytes, signature: bytes) -> str:
    """The EIP-55 address of the EOA that produced ``signature`` (65 bytes ``r|s|v``) over ``message_hash``.

    ``v`` 27/28 is ECDSA over the hash; ``v`` 31/32 is ``eth_sign`` over the EIP-191-prefixed hash. Contract
    (``v`` 0) and approved-hash (``v`` 1) signatures, high-s twins and anything unrecoverable raise
    :class:`SafeTxError`.
    """
    if len(message_hash) != 32:
        raise SafeTxError("hash_invalid", f"a hash is 32 bytes, got {len(message_hash)}")
    if len(signature) != SIGNATURE_LENGTH:
        raise SafeTxError("signature_length", f"a signature is 65 bytes (r|s|v), got {len(signature)}")
    r = int.from_bytes(signature[0:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    digest = message_hash
    if v in (31, 32):
        digest = keccak(b"\x19Ethereum Signed Message:\n32" + message_hash)
        v -= 4
    if v not in (27, 28):
        raise SafeTxError(
            "signature_type", f"v={signature[64]}: only EOA signatures (v 27/28, or 31/32 for eth_sign) are accepted"
        )
    if not 0 < s <= SECP256K1_N // 2 or not 0 < r < SECP256K1_N:
        raise SafeTxError("signature_malleable", "signature r/s out of range or s not canonical (EIP-2 low s)")
    try:
        public_key = Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError) as error:
        raise SafeTxError("signature_unrecoverable", f"no signer can be recovered: {error}") from error
    return str(public_key.to_checksum_address())


@dataclass(frozen=True)
class OwnerSignature:
    """One owner's signature over a safeTxHash, with the owner the caller expects it to come from."""

    owner: str
    signature: bytes


def signatures_pack(
    message_hash: bytes, signatures: Iterable[OwnerSignature], *, owners: Sequence[str] | None = None
) -> bytes:
    """Signatures concatenated in ascending owner order, ready for ``execTransaction``.

    With ``owners`` (the Safe's), the owners' signatures come first, ascending, and any other signer's after them:
    the Safe reads only its threshold's worth from the front and reverts on a non-owner there (GS026), while the
    co-signer guard reads every entry. A co-signer that a recovery installed on the guard is such a non-owner.

    Each signature must recover to its stated owner over ``message_hash`` and each owner appear once; otherwise
    :class:`SafeTxError` (``signer_mismatch`` / ``owner_duplicate``) and nothing is packed.
    """
    by_owner: dict[int, bytes] = {}
    for item in signatures:
        owner = address_normalise(item.owner, field="owner")
        recovered = safe_signature_recover(message_hash, item.signature)
        if recovered != owner:
            raise SafeTxError("signer_mismatch", f"signature for {owner} was made by {recovered}")
        key = int(owner, 16)
        if key in by_owner:
            raise SafeTxError("owner_duplicate", f"{owner} signed twice; each owner counts once")
        by_owner[key] = item.signature
    safe_owners = None if owners is None else {int(address_normalise(owner, field="owner"), 16) for owner in owners}
    order = sorted(by_owner, key=lambda key: (safe_owners is not None and key not in safe_owners, key))
    return b"".join(by_owner[key] for key in order)


def signatures_unpack(packed: bytes) -> list[bytes]:
    """Split a packed EOA signature blob into 65-byte signatures (no contract-signature dynamic parts)."""
    if len(packed) % SIGNATURE_LENGTH:
        raise SafeTxError("signature_length", f"packed signatures are a multiple of 65 bytes, got {len(packed)}")
    return [packed[i : i + SIGNATURE_LENGTH] for i in range(0, len(packed), SIGNATURE_LENGTH)]


def signatures_packed_check(message_hash: bytes, packed: bytes, owners: Sequence[str], threshold: int) -> list[str]:
    """The signers of ``packed`` if the Safe would accept it; :class:`SafeTxError` for what it would revert on.

    Mirrors ``checkNSignatures`` off chain so a bad set is refused before spending gas: at least ``threshold``
    signatures (GS020), each recovering to an owner (GS026), owners strictly ascending, hence distinct (GS026).
    """
    signatures = signatures_unpack(packed)
    if threshold < 1:
        raise SafeTxError("threshold_invalid", f"threshold must be at least 1, got {threshold}")
    if len(signatures) < threshold:
        raise SafeTxError(
            "signatures_too_few",
            f"{len(signatures)} signature(s) for a threshold of {threshold} (the Safe reverts GS020)",
        )
    owner_set = {address_normalise(owner, field="owner") for owner in owners}
    signers: list[str] = []
    last = -1
    for signature in signatures[:threshold]:
        signer = safe_signature_recover(message_hash, signature)
        if signer not in owner_set:
            raise SafeTxError("signer_not_owner", f"{signer} is not an owner of this Safe (the Safe reverts GS026)")
        if int(signer, 16) <= last:
            raise SafeTxError(
                "signatures_unsorted",
                f"{signer} is not above the previous signer: signatures must be sorted by owner ascending, "
                "each owner once (the Safe reverts GS026)",
            )
        last = int(signer, 16)
        signers.append(signer)
    return signers
