"""The Celery app finds every task the beat schedule names: a task that moved module without its registered name
would leave beat sending messages no worker knows."""

from __future__ import annotations

from django.conf import settings

from hftplatform.celery import app


def test_every_beat_task_is_registered_after_autodiscovery() -> None:
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert scheduled - set(app.tasks) == set()
    assert {
        "vaults.tasks.vaults_fees_settle_all",
        "vaults.tasks.vault_safes_deposits_scan_all",
        "vaults.custody.tasks.custody_proposals_advance",
    } <= scheduled
