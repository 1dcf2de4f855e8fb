"""Download jobs: the downloader (:mod:`marketdata.downloads`) records a run's start, its progress as it goes, and
its end, for operators to follow in admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketdata.models import KlineDownloadJob


def download_job_start(*, parameters: dict[str, Any], total: int = 0) -> KlineDownloadJob:
    """A running job; ``total`` is the work planned (the downloader's unit: candles or requests)."""
    with transaction.atomic():
        return KlineDownloadJob.objects.create(parameters=parameters, progress_total=total, started_at=timezone.now())


def download_job_progress(
    *,
    job_id: int,
    done: int = 0,
    total: int | None = None,
    rows_written: int = 0,
    rows_present: int = 0,
    requests: int = 0,
    retries: int = 0,
) -> None:
    """Add increments (F() updates, safe from concurrent workers); ``total`` replaces the planned work."""
    changes: dict[str, Any] = {
        "progress_done": F("progress_done") + done,
        "rows_written": F("rows_written") + rows_written,
        "rows_present": F("rows_present") + rows_present,
        "requests": F("requests") + requests,
        "retries": F("retries") + retries,
    }
    if total is not None:
        changes["progress_total"] = total
    with transaction.atomic():
        KlineDownloadJob.objects.filter(pk=job_id).update(**changes)


def download_job_finish(*, job_id: int, gaps_left: int, error: str = "", finished_at: datetime | None = None) -> None:
    """Close the job: ``done``, or ``failed`` with the error text when one is given."""
    status = KlineDownloadJob.Status.FAILED if error else KlineDownloadJob.Status.DONE
    with transaction.atomic():
        KlineDownloadJob.objects.filter(pk=job_id).update(
            status=status, gaps_left=gaps_left, error=error, finished_at=finished_at or timezone.now()
        )
