"""The depositor layer: an EIP-712 ``WithdrawalRequest`` that two distinct wallets linked to the depositor's account
must sign before the platform even prepares the Safe transaction. Pure: no Django, no RPC.

Domain (documented here and shown to the signer by the wallet)::

    EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
    name = "HFT Bot Vault", version = "1", chainId = the vault's chain, verifyingContract = the vault's Safe

The chain id is also inside the message, so the request a wallet displays states its chain even where a wallet
hides the domain. Units: ``shares`` in share base units, ``amount`` in the asset's base units (exactly one of
them is non-zero), ``deadline`` in Unix seconds (UTC), ``depositor`` the platform account id.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from hftplatform.core.utc import utc_aware
from vaults.custody.safe_tx import SECP256K1_N, SIGNATURE_LENGTH, UINT256_MAX, SafeTxError, address_normalise

DOMAIN_NAME = "HFT Bot Vault"
DOMAIN_VERSION = "1"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
WITHDRAWAL_REQUEST_TYPE = (
    "WithdrawalRequest(address vault,uint256 depositor,uint256 shares,uint256 amount,address destination,"
    "uint256 nonce,uint256 deadline,uint256 chainId)"
)
DOMAIN_TYPEHASH = keccak(text=DOMAIN_TYPE)
WITHDRAWAL_REQUEST_TYPEHASH = keccak(text=WITHDRAWAL_REQUEST_TYPE)
REQUIRED_WALLETS = 2


class WithdrawalRequestError(ValueError):
    """A request that cannot be built (bad field); ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class WithdrawalRequest:
    """What the depositor signs: withdraw ``shares`` (or ``amount``) of ``vault`` to ``destination``.

    ``vault`` is the vault's Safe address (the EIP-712 verifying contract); ``nonce`` is the depositor's
    withdrawal nonce for that vault (single use); ``deadline`` is Unix seconds, UTC.
    """

    vault: str
    depositor: int
    shares: int
    amount: int
    destination: str
    nonce: int
    deadline: int
    chain_id: int

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "vault", address_normalise(self.vault, field="vault"))
            object.__setattr__(self, "destination", address_normalise(self.destination, field="destination"))
        except SafeTxError as error:
            raise WithdrawalRequestError(error.code, str(error)) from error
        for field in ("depositor", "shares", "amount", "nonce", "deadline", "chain_id"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
                raise WithdrawalRequestError("uint_invalid", f"{field} must be an integer in [0, 2**256 - 1]")
        if (self.shares > 0) == (self.amount > 0):
            raise WithdrawalRequestError("quantity_invalid", "exactly one of shares and amount must be above zero")
        if self.chain_id == 0:
            raise WithdrawalRequestError("chain_invalid", "chain_id must be a positive EIP-155 chain id")

    @property
    def deadline_at(self) -> datetime:
        return datetime.fromtimestamp(self.deadline, tz=UTC)


# The typed-data fields of the platform's EIP-712 domains (a withdrawal request's adds its vault Safe).
DOMAIN_FIELDS: tuple[dict[str, str], ...] = (
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
)


def withdrawal_domain_separator(chain_id: int, vault: str) -> bytes:
    """The EIP-712 domain separator of a vault's withdrawal requests (32 bytes)."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [DOMAIN_TYPEHASH, keccak(text=DOMAIN_NAME), keccak(text=DOMAIN_VERSION), chain_id, vault],
        )
    )


def withdrawal_request_hash(request: WithdrawalRequest) -> bytes:
    """The EIP-712 digest (32 bytes) a wallet signs for ``request`` (``eth_signTypedData_v4``)."""
    struct_hash = keccak(
        abi_encode(
            ["bytes32", "address", "uint256", "uint256", "uint256", "address", "uint256", "uint256", "uint256"],
            [
                WITHDRAWAL_REQUEST_TYPEHASH,
                request.vault,
                request.depositor,
                request.shares,
                request.amount,
                request.destination,
                request.nonce,
                request.deadline,
                request.chain_id,
            ],
        )
    )
    return keccak(b"\x19\x01" + withdrawal_domain_separator(request.chain_id, request.vault) + struct_hash)


def withdrawal_request_typed_data(request: WithdrawalRequest) -> dict[str, Any]:
    """The request as ``eth_signTypedData_v4`` typed data (integers as Python ints; serialise them as decimal
    strings for a browser, which wallets accept for ``uint256``).
    """
    return {
        "types": {
            "EIP712Domain": [*DOMAIN_FIELDS, {"name": "verifyingContract", "type": "address"}],
            "WithdrawalRequest": [
                {"name": "vault", "type": "address"},
                {"name": "depositor", "type": "uint256"},
                {"name": "shares", "type": "uint256"},
                {"name": "amount", "type": "uint256"},
                {"name": "destination", "type": "address"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
                {"name": "chainId", "type": "uint256"},
            ],
        },
        "primaryType": "WithdrawalRequest",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": request.chain_id,
            "verifyingContract": request.vault,
        },
        "message": {
            "vault": request.vault,
            "depositor": request.depositor,
            "shares": request.shares,
            "amount": request.amount,
            "destination": request.destination,
            "nonce": request.nonce,
            "deadline": request.deadline,
            "chainId": request.chain_id,
        },
    }


def withdrawal_request_sign(request: WithdrawalRequest, private_key: bytes) -> bytes:
    """A wallet's signature ``r | s | v`` (v 27/28) over the request (what ``eth_signTypedData_v4`` returns)."""
    signature = PrivateKey(private_key).sign_msg_hash(withdrawal_request_hash(request))
    return int(signature.r).to_bytes(32, "big") + int(signature.s).to_bytes(32, "big") + bytes([int(signature.v) + 27])


def typed_signature_recover(digest: bytes, signature: bytes) -> str:
    """The wallet that signed ``digest``: v 27/28, or 0/1 as some hardware wallets return it; low s only."""
    if len(signature) != SIGNATURE_LENGTH:
        raise SafeTxError("signature_length", f"a signature is 65 bytes (r|s|v), got {len(signature)}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        raise SafeTxError("signature_type", f"v={signature[64]} is not an ECDSA recovery id (27/28 or 0/1)")
    if not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise SafeTxError("signature_malleable", "signature r/s out of range or s not canonical (EIP-2 low s)")
    try:
        public_key = Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError) as error:
        raise SafeTxError("signature_unrecoverable", f"no signer can be recovered: {error}") from error
    return str(public_key.to_checksum_address())


@dataclass(frozen=True)
class Authorisation:
    """The depositor layer is satisfied: ``signers`` (ascending) are two or more distinct linked wallets.

    ``signatures`` are kept so the co-signer re-verifies them rather than trusting ``signers``.
    """

    request: WithdrawalRequest
    request_hash: bytes
    signers: tuple[str, ...]
    signatures: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """Why a request or operation is not authorised; ``code`` is stable (for the API), ``message`` is for people."""

    code: str
    message: str


def signer_not_yet_usable(signer: str, usable_from: datetime, *, position: int | None = None) -> Refusal:
    """The refusal of a wallet linked too recently to authorise withdrawals, saying from when it can."""
    which = f"signature {position} is from {signer}" if position is not None else f"{signer}"
    return Refusal(
        "signer_not_yet_usable",
        f"{which}, linked less than 48 h ago: it can authorise withdrawals from "
        f"{usable_from.astimezone(UTC):%Y-%m-%d %H:%M} UTC (or link it again, vouched for by a wallet linked 48 h "
        "or more ago)",
    )


def distinct_linked_signers(
    digest: bytes,
    signatures: Sequence[bytes],
    linked: Collection[str],
    *,
    other_content: str,
    repeated_rule: str,
    usable_from: Mapping[str, datetime] | None = None,
    now: datetime | None = None,
) -> tuple[str, ...] | Refusal:
    """The wallets whose typed-data signatures over ``digest`` these are, ascending, if every signature recovers to
    a wallet in ``linked`` (checksummed addresses) and no wallet signed twice. Otherwise the refusal of the first
    signature that fails, counted from 1: ``signature_invalid`` (it does not recover), ``signer_not_linked`` (the
    message says it may have been made over ``other_content``), ``signer_repeated`` (the message ends with
    ``repeated_rule``) or, when ``usable_from`` (wallet -> from when it may sign) and ``now`` are given,
    ``signer_not_yet_usable`` (a wallet linked too recently; the message says from when). How many signatures are
    needed is the caller's rule."""
    if usable_from is not None and now is None:
        raise ValueError("usable_from needs now")
    signers: list[str] = []
    for position, signature in enumerate(signatures, start=1):
        try:
            signer = typed_signature_recover(digest, signature)
        except SafeTxError as error:
            return Refusal("signature_invalid", f"signature {position} is unusable: {error}")
        if signer not in linked:
            return Refusal(
                "signer_not_linked",
                f"signature {position} recovers to {signer}, which is not a wallet linked to this account "
                f"(or it was made over {other_content})",
            )
        if signer in signers:
            return Refusal("signer_repeated", f"signature {position} is from {signer} again: {repeated_rule}")
        if usable_from is not None and now is not None:
            ready = usable_from.get(signer)
            if ready is None or now < ready:
                return signer_not_yet_usable(signer, ready or now, position=position)
        signers.append(signer)
    return tuple(sorted(signers, key=lambda address: int(address, 16)))


def withdrawal_authorisation_check(
    request: WithdrawalRequest,
    signatures: Sequence[bytes],
    linked_wallets: Collection[str],
    now: datetime,
    used_nonces: Collection[int],
    *,
    chain_id: int,
    vault: str,
    usable_from: Mapping[str, datetime] | None = None,
) -> Authorisation | Refusal:
    """Check the depositor's signatures over ``request`` for the vault Safe ``vault`` on ``chain_id``.

    Authorised only if the request is for this chain and vault, ``now`` (aware) is before its deadline, its nonce
    is not in ``used_nonces`` and the signatures recover to at least two distinct wallets, all of them in
    ``linked_wallets`` and, when ``usable_from`` (linked wallet -> from when it authorises withdrawals: 48 h after
    its link unless a wallet linked 48 h before vouched for it) is given, each of them usable at ``now``. A
    signature over any other content (another nonce, chain, amount...) recovers to an unrelated address and is
    refused as not linked. Every signature given must be valid: none is ignored.
    """
    utc_aware(now, what="now")  # a naive time is a programming error
    if request.chain_id != chain_id:
        return Refusal("chain_mismatch", f"the request is for chain {request.chain_id}, this vault is on {chain_id}")
    if request.vault != address_normalise(vault, field="vault"):
        return Refusal("vault_mismatch", f"the request is for vault {request.vault}, not {vault}")
    if now.timestamp() >= request.deadline:
        return Refusal(
            "deadline_passed",
            f"the request expired at {request.deadline_at.isoformat()}; sign a new request",
        )
    if request.nonce in used_nonces:
        return Refusal("nonce_used", f"request nonce {request.nonce} was already used: a signed request works once")
    if len(signatures) < REQUIRED_WALLETS:
        return Refusal(
            "signatures_too_few",
            f"{len(signatures)} signature(s): a withdrawal needs signatures from {REQUIRED_WALLETS} distinct "
            "linked wallets",
        )
    digest = withdrawal_request_hash(request)
    linked = {address_normalise(wallet, field="linked wallet") for wallet in linked_wallets}
    signers = distinct_linked_signers(
        digest,
        signatures,
        linked,
        other_content="a different request: another nonce, chain, amount or destination",
        repeated_rule="the two signatures must come from two different linked wallets",
        usable_from=usable_from,
        now=now,
    )
    if isinstance(signers, Refusal):
        return signers
    return Authorisation(request=request, request_hash=digest, signers=signers, signatures=tuple(signatures))
