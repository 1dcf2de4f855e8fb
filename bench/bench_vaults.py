"""Vaults: accrual + year-end crystallisation of a vault with 100,000 lots, and deposit/withdrawal requests per
second sustained on one vault from parallel threads (PostgreSQL, each thread its own connection).

Baselines measured in this same run: the pure fee engine doing the same accrual and crystallisation in memory
(the ratio is the database path's time over it: the cost of loading and storing), and one thread making requests
(the ratio is the parallel rate over it: under one vault's row lock the requests are serialised, so the ratio
shows what parallel clients cost or gain). After the parallel run the shares are reconciled (no lost update).
Targets (issue 5): accrual + crystallisation ≤ 5 s; ≥ 200 requests/s on one vault.
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.database import django_setup, scratch_database

LOTS = 100_000
DEPOSITORS = 1_000
LOT_AMOUNT = 1_000_000
THREADS = 8
SECONDS = 3.0
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _users(count: int, prefix: str) -> list[int]:
    from accounts.models import User

    User.objects.bulk_create([User(email=f"{prefix}{i}@example.com", password="!") for i in range(count)])  # noqa: S106  (unusable)
    return list(User.objects.filter(email__startswith=prefix).order_by("id").values_list("id", flat=True))


def _big_vault() -> int:
    """A vault with LOTS lots of LOT_AMOUNT at P = 1 over DEPOSITORS depositors, then +20% gross: written
    directly (setup, not timed)."""
    from vaults import services
    from vaults.models import Lot, Vault, VaultAccount

    vault = services.vault_create(name="Big", slug="big", base_asset="USDC", asset_decimals=6, started_at=T0)
    users = _users(DEPOSITORS, "big")
    one = Decimal(LOT_AMOUNT)
    Lot.objects.bulk_create(
        (
            Lot(
                vault=vault,
                depositor_id=users[(n - 1) % DEPOSITORS],
                number=n,
                shares=one,
                hwm=Decimal(1),
                opened_at=T0,
            )
            for n in range(1, LOTS + 1)
        ),
        batch_size=10_000,
    )
    per = Decimal(LOTS // DEPOSITORS) * one
    VaultAccount.objects.bulk_create(
        VaultAccount(vault=vault, depositor_id=user, shares=per, deposited=per) for user in users
    )
    total = Decimal(LOTS) * one
    Vault.objects.filter(pk=vault.pk).update(
        value=total * Decimal("1.2"), shares_outstanding=total, sequence=LOTS, lot_count=LOTS
    )
    return vault.pk


def _engine_baseline() -> float:
    from fees.core import Vault as FeeVault
    from fees.core.vault import DepositorAccount, Lot

    engine = FeeVault(started_at=T0)
    one = Decimal(LOT_AMOUNT)
    for user in range(DEPOSITORS):
        engine.accounts[str(user)] = DepositorAccount(str(user), shares=Decimal(LOTS // DEPOSITORS) * one)
    for n in range(1, LOTS + 1):
        key = str((n - 1) % DEPOSITORS)
        engine.lots[n] = Lot(n, key, T0, one, Decimal(1))
        engine.accounts[key].lot_ids.append(n)
    engine.shares_outstanding = Decimal(LOTS) * one
    engine.value = engine.shares_outstanding * Decimal("1.2")
    start = time.perf_counter()
    engine.settle(at=T0 + timedelta(hours=1))
    engine.crystallise(at=datetime(2026, 1, 1, tzinfo=UTC), reason="year_end")
    elapsed = time.perf_counter() - start
    assert len(engine.ledger) == LOTS + 2
    return elapsed


def _accrual_and_year_end(vault_id: int) -> tuple[float, float]:
    from vaults import selectors, services
    from vaults.models import FeeLedgerEntry

    start = time.perf_counter()
    services.vault_fees_settle(vault_id=vault_id, at=T0 + timedelta(hours=1))
    accrual = time.perf_counter() - start
    rows = services.vault_fees_crystallise_year_end(vault_id=vault_id, year=2025)
    total = time.perf_counter() - start
    assert rows.count() == LOTS
    assert FeeLedgerEntry.objects.filter(vault_id=vault_id).count() == LOTS + 2
    assert selectors.vault_reconciliation(vault_id=vault_id).ok
    return accrual, total


def _request_rate(vault_id: int, users: list[int], threads: int) -> tuple[float, int]:
    """Requests per second with ``threads`` clients for SECONDS: each alternates a deposit and a withdrawal."""
    from django.db import connection

    from vaults import services

    stop = time.perf_counter() + SECONDS
    counts = [0] * threads
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def client(index: int) -> None:
        user = users[index % len(users)]
        n = 0
        try:
            barrier.wait()
            while time.perf_counter() < stop:
                services.vault_deposit_record(
                    vault_id=vault_id,
                    depositor_id=user,
                    amount=1_000_000,
                    idempotency_key=f"bench-{threads}-{index}-{n}",
                    recorded_by_id=user,
                )
                services.vault_withdrawal_request(vault_id=vault_id, depositor_id=user, shares=Decimal("0.5"))
                n += 1
                counts[index] += 2
        except BaseException as error:  # reported after the run
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return sum(counts) / elapsed, sum(counts)


def main() -> None:
    django_setup()
    with scratch_database():
        from vaults import selectors, services

        baseline = _engine_baseline()
        vault_id = _big_vault()
        accrual, total = _accrual_and_year_end(vault_id)
        print(
            f"pure engine, {LOTS:,} lots: accrual + year-end crystallisation  {baseline:.2f} s   ratio 1.00 (baseline)"
        )
        print(
            f"database, {LOTS:,} lots: accrual {accrual:.3f} s + crystallisation = {total:.2f} s   "
            f"ratio {total / baseline:.2f}   (target ≤ 5 s)"
        )

        busy = services.vault_create(name="Busy", slug="busy", base_asset="USDC", asset_decimals=6)
        users = _users(THREADS, "busy")
        single, _ = _request_rate(busy.pk, users, 1)
        rates = []
        requests = 0
        for _ in range(3):
            rate, count = _request_rate(busy.pk, users, THREADS)
            rates.append(rate)
            requests += count
        reconciliation = selectors.vault_reconciliation(vault_id=busy.pk)
        assert reconciliation.ok, reconciliation
        rate = statistics.median(rates)
        print(f"one client, deposit/withdrawal requests on one vault  {single:>8,.0f} /s   ratio 1.00 (baseline)")
        print(
            f"{THREADS} clients on one vault  median {rate:>8,.0f} /s   ratio {rate / single:.2f}   (target ≥ 200/s)   "
            f"rounds: {', '.join(f'{r:,.0f}' for r in rates)}   {requests:,} requests, shares reconciled"
        )


if __name__ == "__main__":
    main()
