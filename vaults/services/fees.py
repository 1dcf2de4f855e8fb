"""Fee settlement: the management fee accrued up to a moment, the year-end performance crystallisation, and fees
collected out of the vault to the platform."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet

from fees.core import VaultError
from fees.core.years import year_end
from vaults.errors import engine_refusal
from vaults.fee_engine_store import (
    SqlBatch,
    cash_move,
    session_open,
    session_store,
)
from vaults.models import (
    FeeCollection,
    FeeLedgerEntry,
    VaultEvent,
)
from vaults.services.operations import operation_begin, time_or_now, vault_locked, year_ends_catch_up


def vault_fees_settle(*, vault_id: int, at: datetime | None = None) -> FeeLedgerEntry | None:
    """Settle the management fee up to ``at`` (now by default): one ledger row minting the fee shares, or None
    when nothing accrued. Idempotent: a vault already settled to ``at`` or later is left as it is."""
    at = None if at is None else time_or_now(at)
    with transaction.atomic():
        vault, when = operation_begin(vault_id, at)
        if when <= vault.settled_at:
            return None
        session = session_open(vault, [], [])
        row = session.engine.settle(at=when)
        session_store(session, kind=VaultEvent.Kind.SETTLE, at=when, payload={})
        if row is None:
            return None
        # settle() returns the planned row; the ledger holds it numbered.
        return FeeLedgerEntry.objects.get(vault_id=vault.pk, sequence=session.engine.ledger[-1].sequence)


def vault_fees_crystallise_year_end(*, vault_id: int, year: int) -> QuerySet[FeeLedgerEntry]:
    """Crystallise every lot at the end of calendar ``year`` (UTC), and of any earlier year still due: the
    performance fee rows charged at the end of ``year`` (a lazy query: a year end can charge 100,000 lots).

    Runs once per vault and year (``Vault.crystallised_year`` under the row lock): running it again charges
    nothing. Every other service also crystallises the year ends it passes before doing its own work, so a year
    end is never skipped when beat is late.
    """
    with transaction.atomic():
        vault = vault_locked(vault_id)
        if year not in year_ends_catch_up(vault, year_end(year)):
            return FeeLedgerEntry.objects.none()
        return FeeLedgerEntry.objects.filter(
            vault_id=vault_id, kind=FeeLedgerEntry.Kind.PERFORMANCE, reason="year_end", at=year_end(year)
        ).order_by("sequence")


def vault_fee_collection_book(
    *, vault_id: int, proposal_id: int, amount: int, at: datetime | None = None
) -> FeeCollection:
    """Book fees the vault's Safe paid to the platform (the fee-collection proposal ``proposal_id`` executed on
    chain): ``amount`` base units leave the vault's value and its cash, and the fee account's shares worth them at
    ``P`` (``amount / P`` rounded up to the share unit) are burned (:meth:`fees.core.Vault.fee_collect`), so the books
    hold exactly what the Safe holds and no depositor pays the fee a second time. Idempotent per proposal: a second
    call returns the first booking. Raises :class:`~vaults.errors.VaultServiceError` (nothing written) when the fee
    account's shares are worth less than ``amount``. Runs in the caller's transaction if there is one; the vault row
    is locked first (:mod:`vaults.lock_objects`)."""
    at = None if at is None else time_or_now(at)
    with transaction.atomic():
        vault, when = operation_begin(vault_id, at)
        booked = FeeCollection.objects.filter(proposal_id=proposal_id).first()
        if booked is not None:
            return booked
        session = session_open(vault, [], [])
        try:
            flow = session.engine.fee_collect(at=when, amount=amount)
        except VaultError as error:
            raise engine_refusal(error) from None
        batch = SqlBatch()
        cash_move(batch, vault, -amount)
        payload = {"amount": str(amount), "proposal": proposal_id, "shares": format(flow.shares, "f")}
        event = session_store(session, kind=VaultEvent.Kind.FEE_COLLECTION, at=when, payload=payload, batch=batch)
        return FeeCollection.objects.create(
            vault=vault,
            proposal_id=proposal_id,
            event=event,
            sequence=flow.sequence,
            at=flow.at,
            amount=Decimal(amount),
            shares=flow.shares,
            price=flow.price,
        )
