"""Beat tasks: hourly accrual and year-end crystallisation, each idempotent when run twice."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import UserFactory
from tests.vaults.builders import T0, deposit, vault_new
from vaults import services, tasks
from vaults.models import FeeLedgerEntry, NavSnapshot, Vault

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The services' and tasks' 'now', set by the test."""
    now = [T0]
    monkeypatch.setattr(timezone, "now", lambda: now[0])
    monkeypatch.setattr(tasks.timezone, "now", lambda: now[0])
    return now


def test_hourly_settlement_queues_every_vault_and_charges_once_per_hour(
    clock: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = vault_new(slug="one"), vault_new(slug="two")
    deposit(first, UserFactory(), 1_000_000)
    queued: list[int] = []
    monkeypatch.setattr(tasks.vault_fees_settle, "delay", queued.append)
    # when beat fires an hour after the start
    clock[0] = datetime(2025, 1, 1, 1, tzinfo=UTC)
    assert tasks.vaults_fees_settle_all() == [first.pk, second.pk]
    assert queued == [first.pk, second.pk]
    for vault_id in queued:
        tasks.vault_fees_settle(vault_id)
    # and a duplicate delivery runs the task again at the same instant
    tasks.vault_fees_settle(first.pk)
    # then one accrual row for the vault with shares, one hour's worth
    rows = list(FeeLedgerEntry.objects.filter(vault=first))
    assert len(rows) == 1
    assert rows[0].seconds == Decimal(3600)
    assert Vault.objects.get(pk=first.pk).settled_at == clock[0]
    assert FeeLedgerEntry.objects.filter(vault=second).count() == 0  # nothing to charge on an empty vault
    assert NavSnapshot.objects.filter(vault=second, at=clock[0]).count() == 1


def test_year_end_crystallisation_runs_once_at_the_year_end(
    clock: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 100_000)
    services.vault_return_record(vault_id=vault.pk, gross=Decimal("0.2"), at=T0)
    queued: list[tuple[int, int]] = []
    monkeypatch.setattr(tasks.vault_year_end_crystallise, "delay", lambda *args: queued.append(args))
    # beat runs five minutes into 2026
    clock[0] = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert tasks.vaults_year_end_crystallise_all() == [vault.pk]
    assert queued == [(vault.pk, 2025)]
    tasks.vault_year_end_crystallise(vault.pk, 2025)
    tasks.vault_year_end_crystallise(vault.pk, 2025)  # delivered twice
    rows = list(FeeLedgerEntry.objects.filter(vault=vault, kind="performance"))
    assert len(rows) == 1
    assert rows[0].at == datetime(2026, 1, 1, tzinfo=UTC)  # at the year end, not when beat ran
    assert abs(rows[0].fee_value - 940) < Decimal("1e-20")
    # and nothing is queued any more
    assert tasks.vaults_year_end_crystallise_all() == []


def test_a_late_beat_loses_no_year_end(clock: list[datetime]) -> None:
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 100_000)
    services.vault_return_record(vault_id=vault.pk, gross=Decimal("0.2"), at=T0)
    # the first write of 2026 comes before the year-end task: it crystallises at the year end first
    clock[0] = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
    tasks.vault_fees_settle(vault.pk)
    rows = list(FeeLedgerEntry.objects.filter(vault=vault).order_by("sequence"))
    assert [(row.kind, row.at) for row in rows[-2:]] == [
        ("performance", datetime(2026, 1, 1, tzinfo=UTC)),
        ("management", clock[0]),
    ]
    assert not services.vault_fees_crystallise_year_end(vault_id=vault.pk, year=2025).exists()
