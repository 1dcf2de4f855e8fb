"""What the vaults services refuse with: each error is a :class:`hftplatform.errors.ServiceError` with its code."""

from __future__ import annotations

from fees.core import InsufficientSharesError, VaultError
from hftplatform.errors import ServiceError


class VaultServiceError(ServiceError):
    code = "vault_refused"


class VaultNotFoundError(VaultServiceError):
    code = "not_found"
    http_status = 404


class InsufficientVaultSharesError(VaultServiceError):
    code = "insufficient_shares"


class IdempotencyConflictError(VaultServiceError):
    """An idempotency key (or on-chain transfer) was already used for a different operation."""

    code = "idempotency_conflict"
    http_status = 409


class DepositReversalRefusedError(VaultServiceError):
    """The deposit cannot be reversed exactly (its lot's shares already left): an operator must settle it."""

    code = "deposit_reversal_refused"
    http_status = 409


def engine_refusal(error: VaultError) -> VaultServiceError:
    if isinstance(error, InsufficientSharesError):
        return InsufficientVaultSharesError(str(error))
    return VaultServiceError(str(error))
