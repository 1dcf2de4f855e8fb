"""Beat tasks for vaults: thin, take ids, call a service; idempotent, so a rerun or a late run is harmless."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from vaults import selectors, services
from vaults.custody import deposits
from vaults.models import Vault, VaultSafe


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


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=50, time_limit=60)
def vault_safe_deposits_scan(vault_safe_id: int) -> None:
    """Read one vault Safe's new deposits, handle reorganisations, credit the confirmed ones. Idempotent: a rerun
    (or a scan overlapping another) credits nothing twice; an RPC error just waits for the next beat."""
    deposits.vault_safe_deposits_scan(vault_safe_id=vault_safe_id)


@shared_task(ignore_result=True, acks_late=False)
def vault_safes_deposits_scan_all() -> list[int]:
    """Periodic (beat, every 15 s): queue :func:`vault_safe_deposits_scan` for every vault Safe on a chain with an
    RPC URL in ``settings.CHAIN_RPC_URLS``; the ids queued."""
    safe_ids = list(
        VaultSafe.objects.filter(chain_id__in=list(settings.CHAIN_RPC_URLS)).order_by("id").values_list("id", flat=True)
    )
    for safe_id in safe_ids:
        vault_safe_deposits_scan.delay(safe_id)
    return safe_ids


from vaults.custody.tasks import custody_proposal_execute, custody_proposals_advance  # noqa: E402,F401  (discovered with the app)
