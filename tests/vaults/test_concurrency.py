"""Many deposits and withdrawals at once on one vault, from parallel threads each with its own PostgreSQL
connection: no share is lost or double-counted, the ledger reconciles, and every idempotency key is credited
once even when two threads submit it at the same moment."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection

from fees.core.numbers import ZERO
from tests.factories import UserFactory
from tests.vaults.builders import vault_new
from vaults import errors, selectors, services
from vaults.models import Deposit, Vault, VaultAccount, Withdrawal

THREADS = 8
KEYS = 60


@pytest.mark.django_db(transaction=True)
def test_parallel_deposits_and_withdrawals_lose_nothing() -> None:
    # given a vault and four depositors
    vault = vault_new(slug="busy", started_at=None)
    users = [UserFactory() for _ in range(4)]
    operator = users[0]
    barrier = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def work(thread: int) -> list[tuple[str, bool]]:
        results = []
        try:
            barrier.wait()
            for i in range(KEYS):
                # threads t and t+1 submit the same key at about the same moment
                key = f"k-{(thread // 2)}-{i}"
                user = users[(thread // 2 + i) % len(users)]
                result = services.vault_deposit_record(
                    vault_id=vault.pk,
                    depositor_id=user.pk,
                    amount=1_000 + i,
                    idempotency_key=key,
                    recorded_by_id=operator.pk,
                )
                results.append((key, result.created))
                if i % 3 == 0:
                    with contextlib.suppress(errors.InsufficientVaultSharesError):
                        services.vault_withdrawal_request(
                            vault_id=vault.pk, depositor_id=user.pk, shares=Decimal("7.5")
                        )
        except BaseException as error:  # surfaced below
            failures.append(error)
        finally:
            connection.close()
        return results

    # when eight threads deposit and withdraw at once
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = [item for part in pool.map(work, range(THREADS)) for item in part]

    # then every key was credited exactly once and each pair saw one "created"
    assert failures == []
    assert Deposit.objects.filter(vault=vault).count() == (THREADS // 2) * KEYS
    created = [key for key, was_created in outcomes if was_created]
    assert len(created) == len(set(created)) == (THREADS // 2) * KEYS
    deposited = sum(
        (
            VaultAccount.objects.get(vault=vault, depositor=u).deposited
            for u in users
            if VaultAccount.objects.filter(vault=vault, depositor=u).exists()
        ),
        ZERO,
    )
    assert deposited == (THREADS // 2) * sum(1_000 + i for i in range(KEYS))
    # and no share was lost or double-counted
    reconciliation = selectors.vault_reconciliation(vault_id=vault.pk)
    assert reconciliation.ok, reconciliation
    withdrawals = Withdrawal.objects.filter(vault=vault)
    assert withdrawals.count() > 0
    assert all(w.state == Withdrawal.State.AWAITING_SIGNATURES for w in withdrawals)
    # and the whole history replays through the engine to the stored state
    engine = selectors.vault_engine_replay(vault_id=vault.pk)
    stored = Vault.objects.get(pk=vault.pk)
    assert (engine.shares_outstanding, engine.value, engine.fee_account_shares) == (
        stored.shares_outstanding,
        stored.value,
        stored.fee_account_shares,
    )
