"""The steps every vault operation takes first: the vault row locked (not found is a clear error), the operation's
time fixed under the lock, and the calendar year ends it passes crystallised before it."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from fees.core.years import year_end, year_ends_due
from hftplatform.core.utc import utc_aware
from vaults.errors import (
    VaultNotFoundError,
    VaultServiceError,
)
from vaults.fee_engine_store import (
    ledger_stream,
    session_open,
    session_store,
)
from vaults.lock_objects import accounts_lock, lots_lock, vault_lock
from vaults.models import (
    Vault,
    VaultEvent,
)


def time_or_now(at: datetime | None) -> datetime:
    """``at`` in UTC (an aware datetime; a naive one is refused), or now when it is None."""
    if at is None:
        return timezone.now()
    try:
        return utc_aware(at, what="time")
    except ValueError as error:
        raise VaultServiceError(str(error)) from None


def vault_locked(vault_id: int) -> Vault:
    """The vault's row, locked (:func:`vaults.lock_objects.vault_lock`); :class:`VaultNotFoundError` if none."""
    try:
        return vault_lock(vault_id=vault_id)
    except Vault.DoesNotExist:
        raise VaultNotFoundError(f"no vault {vault_id}") from None


def operation_time(at: datetime | None, vault: Vault) -> datetime:
    """The event's time: the given one, or now read under the vault's lock. Now is taken after the lock so a
    writer that waited never lands before the one it waited for (a clock step back still cannot: the vault's
    settled time is the floor)."""
    if at is not None:
        return at
    return max(timezone.now(), vault.settled_at)


def year_ends_catch_up(vault: Vault, until: datetime) -> list[int]:
    """Crystallise every lot at each calendar year end due by ``until``, in order, before the operation at
    ``until`` (fees.core: crystallisation at the year end comes before anything later). The vault is locked."""
    years = year_ends_due(started_at=vault.started_at, crystallised_year=vault.crystallised_year, until=until)
    for year in years:
        # At the year end itself; only a vault written before this rule (settled past it) gets its settled time.
        at = max(year_end(year), vault.settled_at)
        session = session_open(vault, accounts_lock(vault_id=vault.pk), lots_lock(vault_id=vault.pk))
        ledger_stream(session, session.engine.crystallise_by_depositor(at=at, reason="year_end"))
        vault.crystallised_year = year
        session_store(session, kind=VaultEvent.Kind.CRYSTALLISE, at=at, payload={"reason": "year_end", "year": year})
    return years


def operation_begin(vault_id: int, at: datetime | None) -> tuple[Vault, datetime]:
    """The usual first steps of an operation, inside its transaction: the vault locked, the operation's time fixed
    under the lock (:func:`operation_time`) and the year ends before it crystallised. Returns both."""
    vault = vault_locked(vault_id)
    when = operation_time(at, vault)
    year_ends_catch_up(vault, when)
    return vault, when
