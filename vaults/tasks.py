"""Beat tasks for vaults: thin, take ids, call a service; idempotent, so a rerun or a late run is harmless."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from vaults import selectors, services
from vaults.models import Vault


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=50, time_limit=60)
def vault_fees_settle(vault_id: int) -> None:
    """Settle one vault's management fee up to now (crystallising a passed year end first) and publish its NAV.
    Idempotent: the accrual runs from the vault's settled time, so running twice charges once."""
    services.vault_fees_settle(vault_id=vault_id)


@shared_task(ignore_result=True, acks_late=False)
def vaults_fees_settle_all() -> list[int]:
    """Periodic (beat, hourly): queue :func:`vault_fees_settle` for every vault; the ids queued."""
    vault_ids = list(Vault.objects.order_by("id").values_list("id", flat=True))
    for vault_id in vault_ids:
        vault_fees_settle.delay(vault_id)
    return vault_ids


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=540, time_limit=600)
def vault_year_end_crystallise(vault_id: int, year: int) -> None:
    """Crystallise one vault at the end of calendar ``year`` (UTC). Idempotent: once per vault and year."""
    services.vault_fees_crystallise_year_end(vault_id=vault_id, year=year)


@shared_task(ignore_result=True, acks_late=False)
def vaults_year_end_crystallise_all() -> list[int]:
    """Periodic (beat, daily just after 00:00 UTC): queue the last completed year's crystallisation for every
    vault that still owes it; the ids queued. Any vault write also catches up, so a late beat loses nothing."""
    now = timezone.now()
    year = now.year - 1
    vault_ids = selectors.vaults_owing_year_end(year=year, until=now)
    for vault_id in vault_ids:
        vault_year_end_crystallise.delay(vault_id, year)
    return vault_ids
