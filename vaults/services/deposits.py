"""Deposits: crediting one (on-chain transfer or operator-recorded funding, exactly once), and reversing one whose
on-chain transfer a chain reorganisation removed.

A reversal locks the vault (then the depositor's account, then the lot, as :mod:`vaults.lock_objects` orders them),
lets the fee engine take the lot's shares and the amount back out (:meth:`fees.core.Vault.deposit_reverse`), stores
what it changed with one ``reversal`` :class:`~vaults.models.VaultEvent` and one NAV snapshot, and deletes the
:class:`~vaults.models.Deposit` row: the transfer never happened on the canonical chain, and if it is mined again it
can be credited again under the same (chain id, tx hash, log index). The event's payload keeps everything the
deposit row held, and the lot stays (empty) so lot numbers never move.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from fees.core import DepositReversalError, VaultError
from vaults.errors import (
    DepositReversalRefusedError,
    IdempotencyConflictError,
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
from vaults.lock_objects import accounts_lock, lots_lock
from vaults.models import (
    Deposit,
    Lot,
    Vault,
    VaultEvent,
    VaultSafe,
)
from vaults.services.operations import operation_time, time_or_now, vault_locked, year_ends_catch_up

_TX_HASH = re.compile(r"0x[0-9a-f]{64}")


@dataclass(frozen=True)
class DepositResult:
    deposit: Deposit
    created: bool  # False: the same deposit was recorded before (an idempotent repeat)


def vault_deposit_record(
    *,
    vault_id: int,
    depositor_id: int,
    amount: int,
    at: datetime | None = None,
    chain_id: int | None = None,
    tx_hash: str | None = None,
    log_index: int | None = None,
    idempotency_key: str | None = None,
    recorded_by_id: int | None = None,
    occurred_at: datetime | None = None,
) -> DepositResult:
    """Credit a deposit of ``amount`` base units at ``at`` (now by default): management fee settled first, then a
    new lot of ``amount / P`` shares (rounded down to 10^-18) marked at ``P``.

    Exactly once per on-chain transfer (``chain_id``, ``tx_hash``, ``log_index``) or, for off-chain funding
    recorded by an operator (``recorded_by_id``), per ``idempotency_key``. Off-chain funding is refused
    (``vault_has_safe``) for a vault with a Safe. Operators do not call this for off-chain funding: their credits
    take two of them (:mod:`vaults.services.manual_credits`); the direct path is for seeding vaults without a Safe
    (tests, the demo). A repeat with the same content returns
    the first deposit with ``created=False``; different content under the same key raises
    :class:`IdempotencyConflictError`.
    """
    onchain = chain_id is not None or tx_hash is not None or log_index is not None
    if onchain == (idempotency_key is not None):
        raise VaultServiceError("a deposit is either on-chain (chain id, tx hash, log index) or has an idempotency key")
    if onchain:
        if chain_id is None or tx_hash is None or log_index is None or log_index < 0 or chain_id <= 0:
            raise VaultServiceError("an on-chain deposit needs chain id, tx hash and log index")
        tx_hash = tx_hash.lower()
        if not _TX_HASH.fullmatch(tx_hash):
            raise VaultServiceError(f"tx hash {tx_hash!r} is not 0x and 64 hex digits", fields={"tx_hash": ["hex"]})
    else:
        assert idempotency_key is not None
        if not 0 < len(idempotency_key) <= 100:
            raise VaultServiceError("an idempotency key has 1 to 100 characters")
        if recorded_by_id is None:
            raise VaultServiceError("an off-chain deposit is recorded by an operator")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise VaultServiceError(f"a deposit amount must be a positive integer of base units, got {amount!r}")
    at = None if at is None else time_or_now(at)
    lookup = (
        {"chain_id": chain_id, "tx_hash": tx_hash, "log_index": log_index}
        if onchain
        else {"idempotency_key": idempotency_key}
    )
    try:
        with transaction.atomic():
            vault = vault_locked(vault_id)
            existing = Deposit.objects.filter(**lookup).first()
            if existing is not None:
                return DepositResult(_deposit_same(existing, vault_id, depositor_id, amount), created=False)
            if not onchain and VaultSafe.objects.filter(vault_id=vault_id).exists():
                # Custody holds on chain: only a transfer proven there mints shares (issue 13).
                raise VaultServiceError(
                    f"vault {vault_id} has a Safe: it credits only deposits proven on chain", code="vault_has_safe"
                )
            when = operation_time(at, vault)
            year_ends_catch_up(vault, when)
            deposit = _deposit_apply(
                vault,
                depositor_id=depositor_id,
                amount=amount,
                at=when,
                source=Deposit.Source.ONCHAIN if onchain else Deposit.Source.OFFCHAIN,
                lookup=lookup,
                recorded_by_id=recorded_by_id,
                occurred_at=occurred_at,
            )
            return DepositResult(deposit, created=True)
    except IntegrityError:
        # The same transfer credited to another vault at the same moment: the constraint decided.
        existing = Deposit.objects.filter(**lookup).first()
        if existing is None:
            raise
        return DepositResult(_deposit_same(existing, vault_id, depositor_id, amount), created=False)


def _deposit_same(existing: Deposit, vault_id: int, depositor_id: int, amount: int) -> Deposit:
    if (existing.vault_id, existing.depositor_id, existing.amount) != (vault_id, depositor_id, amount):
        raise IdempotencyConflictError(
            f"this transfer or key was already credited as deposit {existing.pk} "
            f"({existing.amount} to vault {existing.vault_id} for depositor {existing.depositor_id})"
        )
    return existing


def _deposit_apply(
    vault: Vault,
    *,
    depositor_id: int,
    amount: int,
    at: datetime,
    source: str,
    lookup: dict[str, Any],
    recorded_by_id: int | None,
    occurred_at: datetime | None,
) -> Deposit:
    session = session_open(vault, accounts_lock(vault_id=vault.pk, depositor_ids=[depositor_id]), [])
    key = depositor_key(depositor_id)
    try:
        flow = session.engine.deposit(at=at, depositor=key, amount=amount)
    except VaultError as error:
        raise engine_refusal(error) from None
    # The engine numbered the lot within this session; in the vault it is the next lot.
    engine_lot = session.engine.lots.pop(flow.lot_id)
    vault.lot_count += 1
    lot = Lot(
        vault=vault,
        depositor_id=depositor_id,
        number=vault.lot_count,
        shares=engine_lot.shares,
        hwm=engine_lot.hwm,
        opened_at=engine_lot.opened_at,
    )
    deposit = Deposit(
        vault=vault,
        depositor_id=depositor_id,
        source=source,
        recorded_by_id=recorded_by_id,
        amount=Decimal(amount),
        at=flow.at,
        occurred_at=occurred_at,
        lot=lot,
        price=flow.price,
        shares=flow.shares,
        sequence=flow.sequence,
        **lookup,
    )
    batch = SqlBatch()
    lot_sql, lot_params = insert_sql([lot], returning='"id"')
    deposit_sql, deposit_params = insert_sql(
        [deposit], returning='"lot_id", "id"', expressions={"lot_id": "(SELECT id FROM lot)"}
    )
    written = batch.add(f"WITH lot AS ({lot_sql}) {deposit_sql}", lot_params + deposit_params)
    cash_move(batch, vault, amount)
    session_store(
        session, kind=VaultEvent.Kind.DEPOSIT, at=at, payload={"depositor": key, "amount": str(amount)}, batch=batch
    )
    ((lot_id, deposit_id),) = batch.rows(written)
    mark_inserted(lot, lot_id)
    mark_inserted(deposit, deposit_id)
    deposit.lot = lot
    return deposit


def vault_deposit_reverse(*, deposit_id: int, reason: str, at: datetime | None = None) -> VaultEvent:
    """Undo deposit ``deposit_id`` at ``at`` (now by default, after the management fee is settled): its lot's
    shares and its amount (base units, exactly as credited) leave the vault and the depositor's account; the
    deposit row is deleted and a ``reversal`` event records it with ``reason``. Returns that event.

    Raises :class:`DepositReversalRefusedError` (nothing written) when the lot no longer holds exactly the
    shares the deposit minted (withdrawn or crystallised since) or the vault could not give the amount back.
    """
    at = None if at is None else time_or_now(at)
    with transaction.atomic():
        vault_id = Deposit.objects.filter(pk=deposit_id).values_list("vault_id", flat=True).first()
        if vault_id is None:
            raise VaultServiceError(f"no deposit {deposit_id}", code="not_found")
        vault = vault_locked(vault_id)
        deposit = Deposit.objects.select_related("lot").filter(pk=deposit_id).first()  # re-read under the lock
        if deposit is None:
            raise VaultServiceError(f"deposit {deposit_id} was reversed meanwhile", code="not_found")
        when = operation_time(at, vault)
        year_ends_catch_up(vault, when)
        amount, shares, number = int(deposit.amount), deposit.shares, deposit.lot.number
        session = session_open(
            vault,
            accounts_lock(vault_id=vault.pk, depositor_ids=[deposit.depositor_id]),
            lots_lock(vault_id=vault.pk, depositor_id=deposit.depositor_id, nonempty_or_number=number),
        )
        try:
            session.engine.deposit_reverse(at=when, lot_id=number, amount=amount, shares=shares)
        except DepositReversalError as error:
            raise DepositReversalRefusedError(f"deposit {deposit_id} cannot be reversed: {error}") from None
        except VaultError as error:
            raise engine_refusal(error) from None
        batch = SqlBatch()
        cash_move(batch, vault, -amount)
        event = session_store(
            session,
            batch=batch,
            kind=VaultEvent.Kind.REVERSAL,
            at=when,
            payload={
                "depositor": depositor_key(deposit.depositor_id),
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
