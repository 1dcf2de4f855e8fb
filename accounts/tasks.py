from celery import shared_task
from django.utils import timezone

from accounts import services


@shared_task(ignore_result=False)
def wallet_nonces_purge() -> int:
    """Periodic (beat): drop stale sign-in nonces. Idempotent: a rerun finds nothing more to delete."""
    return services.wallet_nonces_purge(now=timezone.now())
