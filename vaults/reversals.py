"""Reversing a credited deposit whose on-chain transfer a chain reorganisation removed.

Kept beside :mod:`vaults.services` (and built on its engine session) so the deposit path stays as it is: the
reversal locks the vault (then the depositor's account, then the lot, as :mod:`vaults.lock_objects` orders them),
lets the fee engine take the lot's shares and the amount back out (:meth:`fees.core.Vault.deposit_reverse`),
stores what it changed with one ``reversal`` :class:`~vaults.models.VaultEvent` and one NAV snapshot, and
deletes the :class:`~vaults.models.Deposit` row: the transfer never happened on the canonical chain, and if it is
mined again it can be credited again under the same (chain id, tx hash, log index). The event's payload keeps
everything the deposit row held, and the lot stays (empty) so lot numbers never move.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from fees.core import DepositReversalError, VaultError
from vaults.lock_objects import accounts_lock, lots_lock
from vaults.models import Deposit, VaultEvent
from vaults.services import (
    VaultServiceError,
    _aware,
    _Batch,
    _cash_move,
    _key,
    _refused,
    _session_open,
    _session_store,
    _vault_locked,
    _when,
    _year_ends_catch_up,
)


class DepositReversalRefusedError(VaultServiceError):
    """The deposit cannot be reversed exactly (its lot's shares already left): an operator must settle it."""

    code = "deposit_reversal_refused"
    http_status = 409


def vault_deposit_reverse(*, deposit_id: int, reason: str, at: datetime | None = None) -> VaultEvent:
    """Undo deposit ``deposit_id`` at ``at`` (now by default, after the management fee is settled): its lot's
    shares and its amount (base units, exactly as credited) leave the vault and the depositor's account; the
    deposit row is deleted and a ``reversal`` event records it with ``reason``. Returns that event.

    Raises :class:`DepositReversalRefusedError` (nothing written) when the lot no longer holds exactly the
    shares the deposit minted (withdrawn or crystallised since) or the vault could not give the amount back.
    """
    at = None if at is None else _aware(at)
    with transaction.atomic():
        vault_id = Deposit.objects.filter(pk=deposit_id).values_list("vault_id", flat=True).first()
        if vault_id is None:
            raise VaultServiceError(f"no deposit {deposit_id}", code="not_found")
        vault = _vault_locked(vault_id)
        deposit = Deposit.objects.select_related("lot").filter(pk=deposit_id).first()  # re-read under the lock
        if deposit is None:
            raise VaultServiceError(f"deposit {deposit_id} was reversed meanwhile", code="not_found")
        when = _when(at, vault)
        _year_ends_catch_up(vault, when)
        amount, shares, number = int(deposit.amount), deposit.shares, deposit.lot.number
        session = _session_open(
            vault,
            accounts_lock(vault_id=vault.pk, depositor_ids=[deposit.depositor_id]),
            lots_lock(vault_id=vault.pk, depositor_id=deposit.depositor_id, nonempty_or_number=number),
        )
        try:
            session.engine.deposit_reverse(at=when, lot_id=number, amount=amount, shares=shares)
        except DepositReversalError as error:
            raise DepositReversalRefusedError(f"deposit {deposit_id} cannot be reversed: {error}") from None
        except VaultError as error:
            raise _refused(error) from None
        batch = _Batch()
        _cash_move(batch, vault, -amount)
        event = _session_store(
            session,
            batch=batch,
            kind=VaultEvent.Kind.REVERSAL,
            at=when,
            payload={
                "depositor": _key(deposit.depositor_id),
                "lot": number,
                "amount": str(amount),
                "shares": str(shares),
                "deposit": deposit.pk,
                "deposit_at": deposit.at.isoformat(),
                "chain_id": deposit.chain_id,
                "tx_hash": deposit.tx_hash,
                "log_index": deposit.log_index,
                "reason": reason,
            },
        )
        deposit.delete()
        return event
