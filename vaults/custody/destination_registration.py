"""A depositor's registration of a withdrawal address that is not one of their linked wallets: an EIP-712
``DestinationRegistration`` that two distinct linked wallets sign (``eth_signTypedData_v4``). Pure: no Django, no RPC.

Domain (shown to the signer by the wallet)::

    EIP712Domain(string name,string version,uint256 chainId)
    name = "HFT Bot Vault", version = "1", chainId = the chain the destination will be paid on

No verifying contract: the registration is the depositor's, valid for every vault on that chain; the policy only
lets a registered address receive withdrawals 48 h after it was registered. ``depositor`` is the platform account
id and ``nonce`` is single use per depositor, so a signed registration cannot be replayed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak

from vaults.custody.safe_tx import UINT256_MAX, SafeTxError, address_normalise
from vaults.custody.withdrawal_request import (
    DOMAIN_FIELDS,
    DOMAIN_NAME,
    DOMAIN_VERSION,
    REQUIRED_WALLETS,
    Refusal,
    distinct_linked_signers,
)

REGISTRATION_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId)"
REGISTRATION_DOMAIN_TYPEHASH = keccak(text=REGISTRATION_DOMAIN_TYPE)
DESTINATION_REGISTRATION_TYPE = (
    "DestinationRegistration(uint256 depositor,address destination,uint256 nonce,uint256 chainId)"
)
DESTINATION_REGISTRATION_TYPEHASH = keccak(text=DESTINATION_REGISTRATION_TYPE)


class DestinationRegistrationError(ValueError):
    """A registration that cannot be built (bad field); ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DestinationRegistration:
    """What two linked wallets sign: depositor ``depositor`` may withdraw to ``destination`` on ``chain_id``."""

    depositor: int
    destination: str
    nonce: int
    chain_id: int

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "destination", address_normalise(self.destination, field="destination"))
        except SafeTxError as error:
            raise DestinationRegistrationError(error.code, str(error)) from error
        for field in ("depositor", "nonce", "chain_id"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
                raise DestinationRegistrationError("uint_invalid", f"{field} must be an integer in [0, 2**256 - 1]")
        if self.chain_id == 0:
            raise DestinationRegistrationError("chain_invalid", "chain_id must be a positive EIP-155 chain id")


def registration_domain_separator(chain_id: int) -> bytes:
    """The EIP-712 domain separator of destination registrations on ``chain_id`` (32 bytes)."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256"],
            [REGISTRATION_DOMAIN_TYPEHASH, keccak(text=DOMAIN_NAME), keccak(text=DOMAIN_VERSION), chain_id],
        )
    )


def destination_registration_hash(registration: DestinationRegistration) -> bytes:
    """The EIP-712 digest (32 bytes) a wallet signs for ``registration`` (``eth_signTypedData_v4``)."""
    struct_hash = keccak(
        abi_encode(
            ["bytes32", "uint256", "address", "uint256", "uint256"],
            [
                DESTINATION_REGISTRATION_TYPEHASH,
                registration.depositor,
                registration.destination,
                registration.nonce,
                registration.chain_id,
            ],
        )
    )
    return keccak(b"\x19\x01" + registration_domain_separator(registration.chain_id) + struct_hash)


def destination_registration_typed_data(registration: DestinationRegistration) -> dict[str, Any]:
    """The registration as ``eth_signTypedData_v4`` typed data (integers as Python ints)."""
    return {
        "types": {
            "EIP712Domain": list(DOMAIN_FIELDS),
            "DestinationRegistration": [
                {"name": "depositor", "type": "uint256"},
                {"name": "destination", "type": "address"},
                {"name": "nonce", "type": "uint256"},
                {"name": "chainId", "type": "uint256"},
            ],
        },
        "primaryType": "DestinationRegistration",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": registration.chain_id},
        "message": {
            "depositor": registration.depositor,
            "destination": registration.destination,
            "nonce": registration.nonce,
            "chainId": registration.chain_id,
        },
    }


def destination_registration_sign(registration: DestinationRegistration, private_key: bytes) -> bytes:
    """A wallet's signature ``r | s | v`` (v 27/28) over the registration (tests and scripts)."""
    signature = PrivateKey(private_key).sign_msg_hash(destination_registration_hash(registration))
    return int(signature.r).to_bytes(32, "big") + int(signature.s).to_bytes(32, "big") + bytes([int(signature.v) + 27])


@dataclass(frozen=True)
class RegistrationAuthorisation:
    """Two or more distinct linked wallets (``signers``, ascending) signed the registration."""

    registration: DestinationRegistration
    registration_hash: bytes
    signers: tuple[str, ...]


def destination_registration_check(
    registration: DestinationRegistration, signatures: Sequence[bytes], linked_wallets: Collection[str]
) -> RegistrationAuthorisation | Refusal:
    """Authorised only if every signature recovers, over this registration, to a distinct wallet in
    ``linked_wallets`` and there are at least two of them. A signature over other content (another nonce, chain,
    destination or depositor) recovers to an unrelated address and is refused as not linked.
    """
    if len(signatures) < REQUIRED_WALLETS:
        return Refusal(
            "signatures_too_few",
            f"{len(signatures)} signature(s): registering a destination needs signatures from {REQUIRED_WALLETS} "
            "distinct linked wallets",
        )
    digest = destination_registration_hash(registration)
    linked = {address_normalise(wallet, field="linked wallet") for wallet in linked_wallets}
    if registration.destination in linked:
        return Refusal("destination_linked", f"{registration.destination} is a linked wallet: no registration needed")
    signers = distinct_linked_signers(
        digest,
        signatures,
        linked,
        other_content="a different registration: another nonce, chain or destination",
        repeated_rule="two different linked wallets must sign",
    )
    if isinstance(signers, Refusal):
        return signers
    return RegistrationAuthorisation(registration=registration, registration_hash=digest, signers=signers)
