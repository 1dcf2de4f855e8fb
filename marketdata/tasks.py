"""Celery tasks of market data: thin, take ids, idempotent (downloads are coverage-driven; a finished lead-lag run
is not recomputed), safe to run twice."""

from __future__ import annotations

from celery import shared_task

from marketdata import downloads, funding_downloads, services


@shared_task(ignore_result=True, acks_late=False, soft_time_limit=540, time_limit=600)
def klines_sync_tracked() -> None:
    """Periodic (beat): keep every tracked market current up to its open candle, broadcasting what arrives."""
    downloads.klines_sync_tracked()


@shared_task(ignore_result=True, acks_late=False, soft_time_limit=540, time_limit=600)
def funding_sync_tracked() -> None:
    """Periodic (beat): keep every tracked perpetual's funding history current (coverage-driven: idempotent)."""
    funding_downloads.funding_sync_tracked()


@shared_task(ignore_result=True, acks_late=True, soft_time_limit=900, time_limit=960)
def leadlag_run(run_id: int) -> None:
    """Compute and store one run. Bad data is stored on the run as its error and not retried."""
    try:
        services.leadlag_run_execute(run_id=run_id)
    except services.LeadLagError:
        return  # recorded on the run (status failed); retrying cannot fix the data


@shared_task(ignore_result=True, acks_late=False)
def leadlag_refresh_tracked() -> None:
    """Periodic (beat, daily): a run over the last UTC day for every symbol tracked on two or more venues."""
    for run_id in services.leadlag_refresh_tracked():
        leadlag_run.delay_on_commit(run_id)
