"""A vault Safe's contract-call policy (:mod:`vaults.custody.call_policy`): set, validated, in the stored form the
co-signer reads, and what a co-signed trade or unwind uses of it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction

from vaults.custody.call_policy import CallPolicyError, CallUsage, call_policy_from_config
from vaults.custody.errors import CustodyError
from vaults.lock_objects import safe_lock
from vaults.models import SafeCallPolicy, SafeCallUsage, SafeProposal, VaultSafe


def safe_call_policy_set(
    *,
    safe_id: int,
    tokens: Mapping[str, int | str],
    trade_contracts: Mapping[str, Mapping[str, Any]],
    unwind_contracts: Mapping[str, Mapping[str, Any]],
    period: timedelta,
    max_slippage: Decimal,
    value_loss_tolerance: int,
    mark_max_age: timedelta,
) -> SafeCallPolicy:
    """Set the Safe's contract-call policy: ``tokens`` ``{address: allowance per period}`` (base units), contracts
    ``{address: {"protocol": ..., "functions": [...]}}`` per kind, ``max_slippage`` a fraction, the value-loss
    tolerance in base units of the vault asset per ``period``. Refused (nothing written) when any entry is unusable;
    stored normalised (checksummed addresses, allowances as decimal text). The Safe row is locked, so a co-signer
    applying the policy sees the old one or the new one, whole."""
    try:
        policy = call_policy_from_config(
            tokens=tokens,
            trade_contracts=trade_contracts,
            unwind_contracts=unwind_contracts,
            period=period,
            max_slippage=max_slippage,
            value_loss_tolerance=value_loss_tolerance,
            mark_max_age=mark_max_age,
        )
    except CallPolicyError as error:
        raise CustodyError(str(error), code="call_policy_invalid") from None
    with transaction.atomic():
        try:
            safe = safe_lock(safe_id=safe_id)
        except VaultSafe.DoesNotExist:
            raise CustodyError(f"no vault Safe {safe_id}", code="not_found") from None
        if safe.address in policy.tokens or {safe.address} & (
            set(policy.trade_contracts) | set(policy.unwind_contracts)
        ):
            raise CustodyError(
                "the Safe itself is never a token or contract of its call policy", code="call_policy_invalid"
            )

        def grants(contracts: Mapping[str, Any]) -> dict[str, Any]:
            return {
                address: {"protocol": grant.protocol.value, "functions": sorted(grant.functions)}
                for address, grant in contracts.items()
            }

        row, _ = SafeCallPolicy.objects.update_or_create(
            safe=safe,
            defaults={
                "tokens": {token: str(limit) for token, limit in policy.tokens.items()},
                "trade_contracts": grants(policy.trade_contracts),
                "unwind_contracts": grants(policy.unwind_contracts),
                "period": policy.period,
                "max_slippage": policy.max_slippage,
                "value_loss_tolerance": Decimal(policy.value_loss_tolerance),
                "mark_max_age": policy.mark_max_age,
            },
        )
        return row


def call_usage_record(*, proposal: SafeProposal, usage: CallUsage, at: datetime) -> SafeCallUsage:
    """Record what a trade or unwind the co-signer has just signed uses of its Safe's call policy. Runs in the
    co-signing transaction, with the Safe row locked before the proposal's (so two co-signings of one Safe are
    serialised and the second counts the first)."""
    return SafeCallUsage.objects.create(
        proposal=proposal,
        safe_id=proposal.safe_id,
        at=at,
        spent={token: str(amount) for token, amount in usage.spent.items()},
        value_loss=Decimal(usage.value_loss),
    )
