"""The deposit-scan beat task queues one scan per vault Safe whose chain has an RPC URL."""

from __future__ import annotations

import pytest
from eth_account import Account

from tests.vaults.builders import vault_new
from vaults.custody import tasks
from vaults.models import VaultSafe

pytestmark = pytest.mark.django_db


def _safe(slug: str, chain_id: int) -> VaultSafe:
    owners = [Account.create().address for _ in range(3)]
    return VaultSafe.objects.create(
        vault=vault_new(slug=slug),
        chain_id=chain_id,
        address=Account.create().address,
        asset_contract=Account.create().address,
        owners=owners,
        threshold=2,
        cosigner=owners[0],
        deployed_block=1,
    )


def test_scan_all_queues_the_safes_of_configured_chains_only(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    settings.CHAIN_RPC_URLS = {31337: "http://127.0.0.1:8545", 10: "http://127.0.0.1:9545"}
    local, elsewhere, optimism = _safe("local", 31337), _safe("elsewhere", 137), _safe("op", 10)
    queued: list[int] = []
    monkeypatch.setattr(tasks.vault_safe_deposits_scan, "delay", queued.append)

    assert tasks.vault_safes_deposits_scan_all() == [local.pk, optimism.pk]

    assert queued == [local.pk, optimism.pk]
    assert elsewhere.pk not in queued


def test_the_beat_runs_the_scan_every_15_seconds(settings) -> None:  # type: ignore[no-untyped-def]
    entry = settings.CELERY_BEAT_SCHEDULE["vaults-deposits-scan-all"]

    assert entry["task"] == "vaults.tasks.vault_safes_deposits_scan_all"
    assert entry["schedule"].run_every.total_seconds() == settings.DEPOSIT_SCAN_SECONDS == 15


def test_the_scan_tasks_keep_the_names_they_had_in_vaults_tasks() -> None:
    # queued messages and the beat schedule name them so
    assert tasks.vault_safe_deposits_scan.name == "vaults.tasks.vault_safe_deposits_scan"
    assert tasks.vault_safes_deposits_scan_all.name == "vaults.tasks.vault_safes_deposits_scan_all"
