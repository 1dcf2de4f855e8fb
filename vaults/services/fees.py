"""Fee settlement: the management fee accrued up to a moment, and the year-end performance crystallisation."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet

from fees.core.years import year_end
from vaults.fee_engine_store import (
    session_open,
    session_store,
)
from vaults.models import (
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
