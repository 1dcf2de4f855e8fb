"""Custody tasks: thin, take ids, call a service; idempotent (execution never sends twice: the submission is
recorded before broadcasting and a retry resumes from it). No blind retries around anything that moves funds."""

from __future__ import annotations

from celery import shared_task

from vaults.custody import services
from vaults.custody.errors import CustodyError
from vaults.models import SafeProposal


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
