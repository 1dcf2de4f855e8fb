"""Stale sign-in nonces are purged; fresh and recently used ones stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services, tasks
from accounts.models import User, WalletNonce

pytestmark = pytest.mark.django_db


def _nonce(user: User, name: str, *, expires_in: timedelta, used_ago: timedelta | None = None) -> WalletNonce:
    now = timezone.now()
    return WalletNonce.objects.create(
        user=user, nonce=name, expires_at=now + expires_in, used_at=None if used_ago is None else now - used_ago
    )


def test_purge_deletes_expired_unused_and_day_old_used_nonces(user: User) -> None:
    _nonce(user, "expiredUnused1", expires_in=timedelta(minutes=-1))
    _nonce(user, "usedLongAgo001", expires_in=timedelta(days=-2), used_ago=timedelta(days=2))
    _nonce(user, "freshUnused001", expires_in=timedelta(minutes=5))
    _nonce(user, "usedRecently01", expires_in=timedelta(minutes=-5), used_ago=timedelta(minutes=10))

    assert services.wallet_nonces_purge(now=timezone.now()) == 2
    assert sorted(WalletNonce.objects.values_list("nonce", flat=True)) == ["freshUnused001", "usedRecently01"]


def test_purge_task_is_idempotent(user: User) -> None:
    _nonce(user, "expiredUnused2", expires_in=timedelta(minutes=-1))
    assert tasks.wallet_nonces_purge.apply().get() == 1
    assert tasks.wallet_nonces_purge.apply().get() == 0
    assert WalletNonce.objects.count() == 0
