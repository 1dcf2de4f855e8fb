"""Withdrawal requests (fees crystallised, shares burned, the payout fixed and reserved) and the moves of a
withdrawal between its states."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from django.db import transaction

from fees.core import VaultError
from fees.core.numbers import FEE_CONTEXT, ZERO
from fees.core.vault import PerformanceCrystallisation
from vaults.errors import (
    IdempotencyConflictError,
    InsufficientVaultSharesError,
    VaultServiceError,
    engine_refusal,
)
from vaults.fee_engine_store import (
    SqlBatch,
    cash_move,
    depositor_key,
    insert_sql,
    mark_inserted,
    session_open,
    session_store,
)
from vaults.lock_objects import accounts_lock, lots_lock, lots_lock_covering
from vaults.models import (
    Lot,
    VaultEvent,
    Withdrawal,
    WithdrawalPart,
)
from vaults.services.operations import operation_begin, time_or_now

WITHDRAWAL_TRANSITIONS: dict[str, frozenset[str]] = {
    Withdrawal.State.REQUESTED: frozenset({Withdrawal.State.AWAITING_SIGNATURES}),
    # The depositor's two wallet signatures authorised a custody proposal (vaults.custody.services).
    Withdrawal.State.AWAITING_SIGNATURES: frozenset({Withdrawal.State.IN_CUSTODY}),
    # Executed on chain: paid; the proposal failed or was cancelled: back, to sign a fresh request.
    Withdrawal.State.IN_CUSTODY: frozenset({Withdrawal.State.PAID, Withdrawal.State.AWAITING_SIGNATURES}),
    Withdrawal.State.PAID: frozenset(),
}


def withdrawal_transition(
    *, withdrawal_id: int, from_state: str, to_state: str, values: dict[str, Any] | None = None
) -> None:
    """Move a withdrawal between states, only along :data:`WITHDRAWAL_TRANSITIONS` and only from ``from_state``
    (a conditional update: a concurrent move makes this one fail rather than overwrite it). ``values`` are
    columns written in the same update (the paid transaction, the custody reason)."""
    if to_state not in WITHDRAWAL_TRANSITIONS.get(from_state, frozenset()):
        raise VaultServiceError(f"a withdrawal cannot go from {from_state} to {to_state}", code="invalid_transition")
    moved = Withdrawal.objects.filter(pk=withdrawal_id, state=from_state).update(state=to_state, **(values or {}))
    if moved != 1:
        raise VaultServiceError(f"withdrawal {withdrawal_id} is no longer {from_state}", code="invalid_transition")


def vault_withdrawal_request(
    *,
    vault_id: int,
    depositor_id: int,
    shares: Decimal | None = None,
    amount: int | None = None,
    lot_id: int | None = None,
    idempotency_key: str | None = None,
    at: datetime | None = None,
) -> Withdrawal:
    """Request a withdrawal of ``shares`` (18 places) or of a net payout ``amount`` (base units), from the lot
    ``lot_id`` (a :class:`Lot` id) or the depositor's lots oldest first, at ``at`` (now by default).

    The management fee is settled, the withdrawn shares crystallise at ``P`` (their fee shares go to the fee
    account), the rest are burned and the exact payout (rounded down to a base unit once per request) is fixed
    and reserved out of the vault's cash. The withdrawal then waits in ``awaiting_signatures`` for the depositor's
    signed request and the Safe custody flow (:mod:`vaults.custody.services`), whose execution marks it ``paid``.
    A repeated ``idempotency_key`` returns the first request.
    """
    at = None if at is None else time_or_now(at)
    with transaction.atomic():
        vault, when = operation_begin(vault_id, at)
        if idempotency_key is not None:
            existing = Withdrawal.objects.filter(
                vault_id=vault_id, depositor_id=depositor_id, idempotency_key=idempotency_key
            ).first()
            if existing is not None:
                same = (existing.requested_shares, existing.requested_amount) == (
                    shares,
                    None if amount is None else Decimal(amount),
                )
                if not same:
                    raise IdempotencyConflictError(f"idempotency key already used by withdrawal {existing.pk}")
                return existing
        lot_number = None
        if lot_id is not None:
            named = Lot.objects.filter(pk=lot_id, vault_id=vault_id, depositor_id=depositor_id).first()
            if named is None:
                raise VaultServiceError(f"depositor {depositor_id} has no lot {lot_id} in this vault")
            lot_number = named.number
        accounts = accounts_lock(vault_id=vault_id, depositor_ids=[depositor_id])
        if not accounts:
            raise InsufficientVaultSharesError(f"depositor {depositor_id} holds nothing in this vault")
        if shares is not None and lot_number is None:
            # Oldest first: only the lots that cover the shares take part (and are locked), however many more
            # the depositor holds; if they do not cover them, that is every lot and the engine refuses.
            lots = lots_lock_covering(vault_id=vault_id, depositor_id=depositor_id, shares=shares)
        else:
            lots = lots_lock(vault_id=vault_id, depositor_id=depositor_id, nonempty_or_number=lot_number)
        session = session_open(vault, accounts, lots)
        key = depositor_key(depositor_id)
        try:
            result = session.engine.withdraw(at=when, depositor=key, shares=shares, amount=amount, lot_id=lot_number)
        except VaultError as error:
            raise engine_refusal(error) from None
        payload: dict[str, Any] = {"depositor": key}
        if shares is not None:
            payload["shares"] = format(shares, "f")
        else:
            payload["amount"] = str(amount)
        if lot_number is not None:
            payload["lot"] = lot_number
        fees = [row for row in session.engine.ledger if isinstance(row, PerformanceCrystallisation)]
        with localcontext(FEE_CONTEXT):
            withdrawal = Withdrawal(
                vault=vault,
                depositor_id=depositor_id,
                idempotency_key=idempotency_key,
                requested_shares=shares,
                requested_amount=None if amount is None else Decimal(amount),
                requested_lot_id=lot_id,
                # Requested and handed to custody in this one transaction: nobody ever sees it requested.
                state=_requested_then(Withdrawal.State.AWAITING_SIGNATURES),
                at=result.flows[0].at,
                price=result.flows[0].price,
                shares=result.shares,
                fee_shares=sum((flow.fee_shares for flow in result.flows), ZERO),
                performance_fee=sum((row.fee_value for row in fees), ZERO),
                payout=Decimal(result.payout),
            )
        parts = [
            WithdrawalPart(
                withdrawal=withdrawal,
                lot_id=session.lots[flow.lot_id],
                sequence=flow.sequence,
                shares=flow.shares,
                price=flow.price,
                fee_shares=flow.fee_shares,
                payout=Decimal(flow.payout),
            )
            for flow in result.flows
        ]
        batch = SqlBatch()
        withdrawal_sql, withdrawal_params = insert_sql([withdrawal], returning='"id"')
        parts_sql, parts_params = insert_sql(parts, expressions={"withdrawal_id": "(SELECT id FROM withdrawal)"})
        written = batch.add(
            f"WITH withdrawal AS ({withdrawal_sql}), part AS ({parts_sql}) SELECT id FROM withdrawal",  # noqa: S608
            withdrawal_params + parts_params,
        )
        cash_move(batch, vault, -result.payout)
        session_store(session, kind=VaultEvent.Kind.WITHDRAW, at=when, payload=payload, batch=batch)
        ((withdrawal_id,),) = batch.rows(written)
        mark_inserted(withdrawal, withdrawal_id)
        return withdrawal


def _requested_then(state: str) -> str:
    """``state``, checked to be a move :data:`WITHDRAWAL_TRANSITIONS` allows from ``requested``."""
    if state not in WITHDRAWAL_TRANSITIONS[Withdrawal.State.REQUESTED]:
        raise VaultServiceError(f"a withdrawal cannot go from requested to {state}", code="invalid_transition")
    return state
