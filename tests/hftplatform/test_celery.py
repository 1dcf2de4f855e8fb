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


def _queue_of(task_name: str) -> str:
    """The queue a message for ``task_name`` goes to, by the app's own router (what ``delay`` and beat use)."""
    return str(app.amqp.router.route({}, task_name)["queue"].name)


def test_custody_and_deposit_tasks_route_to_the_custody_queue_and_nothing_else_does() -> None:
    # Given every task the app knows
    app.loader.import_default_modules()
    names = {name for name in app.tasks if not name.startswith("celery.")}
    custody = {
        "vaults.custody.tasks.custody_proposal_execute",
        "vaults.custody.tasks.custody_proposals_advance",
        "vaults.custody.tasks.vault_safe_recoveries_sync",
        "vaults.custody.tasks.vault_safes_recoveries_sync_all",
        "vaults.tasks.vault_safe_deposits_scan",
        "vaults.tasks.vault_safes_deposits_scan_all",
    }
    assert custody <= names

    # Then exactly those go to the custody queue; analysis, market data and fee tasks stay on the default queue
    routed = {name: _queue_of(name) for name in names}
    assert {name for name, queue in routed.items() if queue == settings.CELERY_CUSTODY_QUEUE} == custody
    assert {routed[name] for name in names - custody} == {settings.CELERY_TASK_DEFAULT_QUEUE}
    assert routed["marketdata.tasks.leadlag_run"] == routed["marketdata.tasks.leadlag_refresh_tracked"] == "hftbot"
    assert routed["marketdata.tasks.klines_sync_tracked"] == "hftbot"
    assert settings.CELERY_CUSTODY_QUEUE == "custody"


def test_beat_sends_the_custody_entries_to_the_custody_queue() -> None:
    app.loader.import_default_modules()
    beat_queues = {key: _queue_of(entry["task"]) for key, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    assert {key for key, queue in beat_queues.items() if queue == "custody"} == {
        "vaults-deposits-scan-all",
        "custody-proposals-advance",
        "custody-recoveries-sync",
    }


def test_the_procfile_and_the_demo_start_a_worker_for_each_queue() -> None:
    from hftplatform.management.commands.demo import demo_commands

    procfile = dict(
        line.split(": ", 1) for line in (settings.BASE_DIR / "Procfile").read_text().splitlines() if line.strip()
    )
    assert "--queues ${CELERY_QUEUE:-hftbot}" in procfile["worker"]
    assert "--queues ${CELERY_CUSTODY_QUEUE:-custody}" in procfile["custody"]

    commands = demo_commands(python="/venv/bin/python", host="127.0.0.1", port=8000)
    assert set(commands) == {"web", "worker", "custody", "beat"}
    for name, queue in (("worker", "hftbot"), ("custody", "custody")):
        command = commands[name]
        assert command[:6] == ["/venv/bin/python", "-m", "celery", "-A", "hftplatform", "worker"]
        assert command[command.index("--queues") + 1] == queue
    assert set(demo_commands(python="/venv/bin/python", host="127.0.0.1", port=8000, workers=False)) == {"web"}
