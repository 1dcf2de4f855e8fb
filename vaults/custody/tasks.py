"""Custody tasks: thin, take ids, call a service; idempotent (execution never sends twice: the submission is
recorded before broadcasting and a retry resumes from it; a deposit scan credits nothing twice). No blind retries
around anything that moves funds."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from vaults.custody import deposits, services
from vaults.custody.errors import CustodyError
from vaults.models import SafeProposal, VaultSafe


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=240, time_limit=300)
def custody_proposal_execute(proposal_id: int) -> str:
    """Execute one ``signed`` (or resume one ``submitted``) proposal with the relayer key
    (``HFT_SAFE_RELAYER_KEY``); the proposal's state afterwards. Running it again is harmless."""
    proposal = services.proposal_execute(proposal_id=proposal_id, sender=services.relayer_account())
    return proposal.state


@shared_task(ignore_result=True, acks_late=False)
def custody_proposals_advance() -> dict[str, list[int]]:
    """Periodic (beat): ask the co-signer again for ``authorised`` proposals it has not signed (the co-signer was
    unavailable, or a control change's 72 h were pending), and queue the execution of ``signed`` and
    ``submitted`` ones. The ids handled."""
    cosign = list(
        SafeProposal.objects.filter(state=SafeProposal.State.AUTHORISED).order_by("id").values_list("id", flat=True)
    )
    for proposal_id in cosign:
        try:
            services.proposal_cosign(proposal_id=proposal_id)
        except CustodyError:
            continue  # stored on the proposal (refusal, waiting) or a concurrent move
    execute = list(
        SafeProposal.objects.filter(state__in=[SafeProposal.State.SIGNED, SafeProposal.State.SUBMITTED])
        .order_by("nonce", "id")
        .values_list("id", flat=True)
    )
    for proposal_id in execute:
        custody_proposal_execute.delay(proposal_id)
    return {"cosign": cosign, "execute": execute}


# Registered under the names they had in vaults.tasks: the beat schedule and messages already queued use them.
@shared_task(
    name="vaults.tasks.vault_safe_deposits_scan", ignore_result=True, acks_late=True, soft_time_limit=50, time_limit=60
)
def vault_safe_deposits_scan(vault_safe_id: int) -> None:
    """Read one vault Safe's new deposits, handle reorganisations, credit the confirmed ones. Idempotent: a rerun
    (or a scan overlapping another) credits nothing twice; an RPC error just waits for the next beat."""
    deposits.vault_safe_deposits_scan(vault_safe_id=vault_safe_id)


@shared_task(name="vaults.tasks.vault_safes_deposits_scan_all", ignore_result=True, acks_late=False)
def vault_safes_deposits_scan_all() -> list[int]:
    """Periodic (beat, every 15 s): queue :func:`vault_safe_deposits_scan` for every vault Safe on a chain with an
    RPC URL in ``settings.CHAIN_RPC_URLS``; the ids queued."""
    safe_ids = list(
        VaultSafe.objects.filter(chain_id__in=list(settings.CHAIN_RPC_URLS)).order_by("id").values_list("id", flat=True)
    )
    for safe_id in safe_ids:
        vault_safe_deposits_scan.delay(safe_id)
    return safe_ids


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=50, time_limit=60)
def vault_safe_recoveries_sync(vault_safe_id: int) -> None:
    """Mirror one vault Safe's co-signer recoveries from its guard (idempotent: the guard's events decide)."""
    services.vault_safe_recoveries_sync(vault_safe_id=vault_safe_id)


@shared_task(ignore_result=True, acks_late=False)
def vault_safes_recoveries_sync_all() -> list[int]:
    """Periodic (beat, every minute): queue :func:`vault_safe_recoveries_sync` for every guarded vault Safe on a
    chain with an RPC URL; the ids queued."""
    safe_ids = list(
        VaultSafe.objects.filter(chain_id__in=list(settings.CHAIN_RPC_URLS))
        .exclude(guard="")
        .order_by("id")
        .values_list("id", flat=True)
    )
    for safe_id in safe_ids:
        vault_safe_recoveries_sync.delay(safe_id)
    return safe_ids
