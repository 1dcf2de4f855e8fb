"""Celery tasks of market data: thin, idempotent (coverage-driven), safe to run twice."""

from __future__ import annotations

from celery import shared_task

from marketdata import tracking


@shared_task(ignore_result=True, acks_late=False, soft_time_limit=540, time_limit=600)
def klines_sync_tracked() -> None:
    """Periodic (beat): keep every tracked market current up to its open candle, broadcasting what arrives."""
    tracking.klines_sync_tracked()
