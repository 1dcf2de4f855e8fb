"""Operators' manual credits: a deposit that is not detected on chain takes two distinct operators.

One operator requests it (:func:`manual_credit_request` for an off-chain funding of a vault **without** a Safe;
:func:`vaults.custody.deposits.chain_transfer_attribution_request` for a transfer into a Safe whose sender no user
linked); a second operator approves it (:func:`manual_credit_approve` here, or
:func:`vaults.custody.deposits.chain_transfer_attribution_approve`, which checks the chain again) and only then is
the deposit credited; either may reject it. Both must hold the operator role for 72 h
(:func:`accounts.selectors.operator_is_seasoned`); the interfaces also require each to act from a session with MFA
confirmed in the last 15 minutes (:mod:`accounts.operator_access`). A vault with a Safe credits only transfers
proven on chain: an off-chain credit to it is refused at request and again at approval.

Amounts are ``int`` base units of the vault's asset; times aware UTC. Every refusal raises a
:class:`vaults.errors.VaultServiceError` subclass and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.selectors import OPERATOR_ROLE_SEASONING, operator_is_seasoned
from vaults.errors import IdempotencyConflictError, VaultNotFoundError, VaultServiceError
from vaults.lock_objects import manual_credit_lock, vault_lock
from vaults.models import ManualCredit, Vault, VaultSafe
from vaults.services.deposits import vault_deposit_record
from vaults.services.operations import time_or_now


class ManualCreditError(VaultServiceError):
    code = "manual_credit_refused"


class ManualCreditForbiddenError(ManualCreditError):
    code = "forbidden"
    http_status = 403


class ManualCreditStateError(ManualCreditError):
    code = "manual_credit_state"
    http_status = 409


@dataclass(frozen=True)
class ManualCreditResult:
    credit: ManualCredit
    created: bool  # False: the same request was made before (an idempotent repeat)


def manual_credit_operator_check(*, operator_id: int, at: datetime, role: str) -> User:
    """The active operator ``operator_id`` who has held the role for 72 h at ``at``; else a 403 refusal."""
    operator = User.objects.filter(pk=operator_id, is_active=True, is_staff=True).first()
    if operator is None:
        raise ManualCreditForbiddenError("only operators may do this", code="operators_only")
    if not operator_is_seasoned(user_id=operator_id, at=at):
        hours = OPERATOR_ROLE_SEASONING.total_seconds() / 3600
        raise ManualCreditForbiddenError(
            f"the {role} must have held the operator role for {hours:.0f} h", code="operator_role_too_new"
        )
    return operator


def manual_credit_depositor_check(*, depositor_id: int) -> User:
    depositor = User.objects.filter(pk=depositor_id, is_active=True).first()
    if depositor is None:
        raise ManualCreditError(f"no active user {depositor_id}", code="depositor_unknown")
    return depositor


def _safe_refusal(vault_id: int) -> ManualCreditError:
    return ManualCreditError(
        "this vault has a Safe: it credits only deposits proven on chain (an operator attributes the chain "
        "transfer instead)",
        code="vault_has_safe",
    )


def manual_credit_request(
    *,
    vault_id: int,
    depositor_id: int,
    amount: int,
    reason: str,
    idempotency_key: str,
    requested_by_id: int,
    now: datetime | None = None,
) -> ManualCreditResult:
    """One operator asks to credit ``amount`` base units of off-chain funding to ``depositor_id`` in a vault
    without a Safe; it stays ``pending`` (no share minted) until a second operator approves it. Idempotent on
    ``idempotency_key``: the same request again returns the first; different content under the key raises
    :class:`~vaults.errors.IdempotencyConflictError`."""
    now = time_or_now(now)
    manual_credit_operator_check(operator_id=requested_by_id, at=now, role="requesting operator")
    manual_credit_depositor_check(depositor_id=depositor_id)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ManualCreditError(f"the amount must be a positive integer of base units, got {amount!r}")
    reason = reason.strip()
    if not reason:
        raise ManualCreditError("say why (the reason is public on the vault's page)", code="reason_required")
    if not 0 < len(idempotency_key) <= 100:
        raise ManualCreditError("an idempotency key has 1 to 100 characters")
    if not Vault.objects.filter(pk=vault_id).exists():
        raise VaultNotFoundError(f"no vault {vault_id}")
    fields = {"vault_id": vault_id, "depositor_id": depositor_id, "amount": Decimal(amount)}
    try:
        with transaction.atomic():
            vault_lock(vault_id=vault_id)
            existing = ManualCredit.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return ManualCreditResult(_same(existing, fields), created=False)
            if VaultSafe.objects.filter(vault_id=vault_id).exists():
                raise _safe_refusal(vault_id)
            credit = ManualCredit.objects.create(
                kind=ManualCredit.Kind.OFFCHAIN,
                reason=reason,
                idempotency_key=idempotency_key,
                requested_by_id=requested_by_id,
                requested_at=now,
                **fields,
            )
            return ManualCreditResult(credit, created=True)
    except IntegrityError:
        existing = ManualCredit.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return ManualCreditResult(_same(existing, fields), created=False)


def _same(existing: ManualCredit, fields: dict[str, object]) -> ManualCredit:
    if (existing.vault_id, existing.depositor_id, existing.amount) != tuple(fields.values()):
        raise IdempotencyConflictError(
            f"this idempotency key was already used for manual credit {existing.pk} "
            f"({existing.amount} to vault {existing.vault_id} for depositor {existing.depositor_id})"
        )
    return existing


def manual_credit_decision_check(credit: ManualCredit | None, *, credit_id: int, operator_id: int) -> ManualCredit:
    """The pending credit a second operator may approve (shared by the attribution approval)."""
    if credit is None:
        raise ManualCreditError(f"no manual credit {credit_id}", code="not_found")
    if credit.state != ManualCredit.State.PENDING:
        raise ManualCreditStateError(f"manual credit {credit.pk} is {credit.state}: it was decided already")
    if credit.requested_by_id == operator_id:
        raise ManualCreditForbiddenError(
            "a manual credit needs a second operator: the one who requested it cannot approve it",
            code="second_operator_required",
        )
    return credit


def manual_credit_approve(*, credit_id: int, operator_id: int, now: datetime | None = None) -> ManualCredit:
    """A second operator approves a pending off-chain credit: the deposit is credited
    (:func:`vaults.services.deposits.vault_deposit_record`, idempotency key ``manual-credit-<id>``, recorded by the
    requesting operator) and the credit becomes ``applied`` with it, in one transaction."""
    now = time_or_now(now)
    manual_credit_operator_check(operator_id=operator_id, at=now, role="approving operator")
    vault_id = ManualCredit.objects.filter(pk=credit_id).values_list("vault_id", flat=True).first()
    if vault_id is None:
        raise ManualCreditError(f"no manual credit {credit_id}", code="not_found")
    with transaction.atomic():
        vault_lock(vault_id=vault_id)
        credit = manual_credit_decision_check(
            manual_credit_lock(credit_id=credit_id), credit_id=credit_id, operator_id=operator_id
        )
        if credit.kind != ManualCredit.Kind.OFFCHAIN:
            raise ManualCreditError(
                "an attribution is approved with the chain transfer checked again "
                "(vaults.custody.deposits.chain_transfer_attribution_approve)",
                code="attribution_needs_chain_check",
            )
        if VaultSafe.objects.filter(vault_id=vault_id).exists():
            raise _safe_refusal(vault_id)
        manual_credit_operator_check(operator_id=credit.requested_by_id, at=now, role="requesting operator")
        result = vault_deposit_record(
            vault_id=vault_id,
            depositor_id=credit.depositor_id,
            amount=int(credit.amount),
            at=now,
            idempotency_key=f"manual-credit-{credit.pk}",
            recorded_by_id=credit.requested_by_id,
        )
        credit.state, credit.decided_by_id, credit.decided_at, credit.deposit = (
            ManualCredit.State.APPLIED, operator_id, now, result.deposit,
        )  # fmt: skip
        credit.save(update_fields=["state", "decided_by", "decided_at", "deposit"])
        return credit


def manual_credit_reject(*, credit_id: int, operator_id: int, reason: str, now: datetime | None = None) -> ManualCredit:
    """An operator (a second one, or the requester withdrawing it) rejects a pending credit: nothing is credited."""
    now = time_or_now(now)
    operator = User.objects.filter(pk=operator_id, is_active=True, is_staff=True).first()
    if operator is None:
        raise ManualCreditForbiddenError("only operators may do this", code="operators_only")
    reason = reason.strip()
    if not reason:
        raise ManualCreditError("say why (the reason is public on the vault's page)", code="reason_required")
    with transaction.atomic():
        credit = manual_credit_lock(credit_id=credit_id)
        if credit is None:
            raise ManualCreditError(f"no manual credit {credit_id}", code="not_found")
        if credit.state != ManualCredit.State.PENDING:
            raise ManualCreditStateError(f"manual credit {credit.pk} is {credit.state}: it was decided already")
        credit.state, credit.decided_by_id, credit.decided_at, credit.decision_reason = (
            ManualCredit.State.REJECTED, operator_id, now, reason,
        )  # fmt: skip
        credit.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
        return credit
