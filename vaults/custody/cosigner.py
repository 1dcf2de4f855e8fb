"""The platform's policy co-signer: one of each vault Safe's owners, which signs a Safe transaction only when the
policy of its operation type allows it (:func:`vaults.custody.policy.policy_evaluate`), and otherwise refuses with
the policy's reasons.

Its key comes from configuration (``HFT_SAFE_COSIGNER_KEY``, 0x-hex, 32 bytes), never from the repository; a
deployment keeps it in a secret store or an HSM-backed signer. The co-signer alone never reaches a vault Safe's
threshold (at least 2), so a stolen co-signer key cannot move funds by itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from eth_keys.datatypes import PrivateKey
from eth_utils.exceptions import ValidationError

from vaults.custody.policy import Decision, Operation, PolicyContext, policy_evaluate
from vaults.custody.safe_tx import OwnerSignature, hash_sign, safe_tx_hash

COSIGNER_KEY_VARIABLE = "HFT_SAFE_COSIGNER_KEY"


class CosignerConfigurationError(RuntimeError):
    """The co-signer's key is missing or unusable; the message never contains the key."""


@dataclass(frozen=True)
class CoSignature:
    """The co-signer's EOA signature (``r|s|v``, v 27/28) over ``safe_tx_hash``, with the decision that allowed it."""

    owner: str
    safe_tx_hash: bytes
    signature: bytes
    decision: Decision

    @property
    def owner_signature(self) -> OwnerSignature:
        return OwnerSignature(owner=self.owner, signature=self.signature)


@dataclass(frozen=True)
class CosignerRefusal:
    """No signature: ``code`` is ``policy`` (see ``decision.reasons``) and ``message`` says why."""

    code: str
    message: str
    safe_tx_hash: bytes
    decision: Decision


class PolicyCosigner:
    """Signs SafeTxs for the vault Safes it co-owns, each only if the operation's policy allows it."""

    def __init__(self, private_key: bytes) -> None:
        try:
            self._key = PrivateKey(private_key)
        except (ValidationError, TypeError, ValueError):
            raise CosignerConfigurationError("the co-signer key must be 32 bytes of a valid secp256k1 key") from None
        self.address: str = str(self._key.public_key.to_checksum_address())

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> PolicyCosigner:
        """The co-signer configured by ``HFT_SAFE_COSIGNER_KEY`` (0x-prefixed hex of the 32-byte key)."""
        value = (os.environ if environ is None else environ).get(COSIGNER_KEY_VARIABLE, "").strip()
        if not value:
            raise CosignerConfigurationError(f"{COSIGNER_KEY_VARIABLE} is not set: the co-signer has no key")
        try:
            raw = bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise CosignerConfigurationError(f"{COSIGNER_KEY_VARIABLE} is not hex") from None
        if len(raw) != 32:
            raise CosignerConfigurationError(f"{COSIGNER_KEY_VARIABLE} must be 32 bytes, got {len(raw)}")
        return cls(raw)

    def __repr__(self) -> str:
        return f"PolicyCosigner(address={self.address})"

    def sign(self, operation: Operation, context: PolicyContext) -> CoSignature | CosignerRefusal:
        """Evaluate the policy for ``operation`` and sign its safeTxHash only if it is allowed."""
        digest = safe_tx_hash(operation.chain_id, operation.safe, operation.tx)
        decision = policy_evaluate(operation, context)
        if not decision.allowed:
            return CosignerRefusal(code="policy", message=decision.message, safe_tx_hash=digest, decision=decision)
        signature = hash_sign(digest, self._key.to_bytes())
        return CoSignature(owner=self.address, safe_tx_hash=digest, signature=signature, decision=decision)
