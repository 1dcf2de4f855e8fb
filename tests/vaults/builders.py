"""Shared vocabulary for the vault tests: a vault at T0, instants by seconds, engine/database comparisons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fees.core import Vault as FeeVault
from fees.core.vault import ManagementAccrual
from vaults import services
from vaults.models import Deposit, FeeLedgerEntry, Lot, Vault, VaultAccount, WithdrawalPart

T0 = datetime(2025, 1, 1, tzinfo=UTC)
YEAR = 31_536_000
HALF_YEAR = YEAR // 2


def at(seconds: int | float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def vault_new(slug: str = "usdc-core", decimals: int = 6, **kwargs: Any) -> Vault:
    return services.vault_create(
        name=slug.replace("-", " ").title(),
        slug=slug,
        base_asset="USDC",
        asset_decimals=decimals,
        allocation={"gmx": {"weight": "0.2", "max": "0.25"}, "aave": {"weight": "0.5", "max": "0.6"}},
        started_at=kwargs.pop("started_at", T0),
        **kwargs,
    )


_counter = iter(range(1, 10**9))


def deposit(vault: Vault, user: Any, amount: int, seconds: float = 0, key: str | None = None) -> Deposit:
    """An off-chain deposit recorded by the depositor's own id as operator (the service only needs an id)."""
    return services.vault_deposit_record(
        vault_id=vault.pk,
        depositor_id=user.pk,
        amount=amount,
        at=at(seconds),
        idempotency_key=key or f"test-{next(_counter)}",
        recorded_by_id=user.pk,
    ).deposit


def stored_matches_engine(vault_id: int, engine: FeeVault) -> None:
    """Every number stored for the vault equals the engine's: fee state, ledger rows, lots, accounts, flows."""
    vault = Vault.objects.get(pk=vault_id)
    assert (vault.settled_at, vault.value, vault.shares_outstanding) == (
        engine.settled_at,
        engine.value,
        engine.shares_outstanding,
    )
    assert (vault.fee_account_shares, vault.fee_index, vault.sequence) == (
        engine.fee_account_shares,
        engine.fee_index,
        engine.sequence,
    )
    rows = list(FeeLedgerEntry.objects.filter(vault_id=vault_id).select_related("lot").order_by("sequence"))
    assert len(rows) == len(engine.ledger)
    for row, expected in zip(rows, engine.ledger, strict=True):
        assert (row.sequence, row.at, row.kind) == (expected.sequence, expected.at, expected.kind)
        assert (row.fee_value, row.fee_shares, row.price) == (expected.fee_value, expected.fee_shares, expected.price)
        if isinstance(expected, ManagementAccrual):
            got = (row.seconds, row.factor, row.shares_outstanding, row.depositor_shares, row.fee_per_share)
            want = (
                expected.seconds,
                expected.factor,
                expected.shares_outstanding,
                expected.depositor_shares,
                expected.fee_per_share,
            )
            assert got == want
            assert row.fee_index == expected.fee_index
        else:
            assert (row.reason, row.lot.number, str(row.depositor_id)) == (
                expected.reason,
                expected.lot_id,
                expected.depositor,
            )
            assert (row.shares, row.hwm_before, row.hwm_after) == (
                expected.shares,
                expected.hwm_before,
                expected.hwm_after,
            )
    lots = {lot.number: lot for lot in Lot.objects.filter(vault_id=vault_id)}
    assert sorted(lots) == sorted(engine.lots)
    for number, lot in engine.lots.items():
        stored = lots[number]
        assert (stored.shares, stored.hwm, stored.opened_at, str(stored.depositor_id)) == (
            lot.shares,
            lot.hwm,
            lot.opened_at,
            lot.depositor,
        )
    accounts = {str(a.depositor_id): a for a in VaultAccount.objects.filter(vault_id=vault_id)}
    assert list(accounts) == list(engine.accounts)  # the same depositors in the same (first deposit) order
    for key, account in engine.accounts.items():
        stored_account = accounts[key]
        assert (stored_account.shares, stored_account.deposited, stored_account.paid_out) == (
            account.shares,
            account.deposited,
            account.paid_out,
        )
        assert (stored_account.management_fee, stored_account.performance_fee, stored_account.fee_index_mark) == (
            account.management_fee,
            account.performance_fee,
            account.fee_index_mark,
        )
    flows = [
        (d.sequence, "deposit", d.lot.number, d.amount, d.price, d.shares, Decimal(0))
        for d in Deposit.objects.filter(vault_id=vault_id).select_related("lot")
    ] + [
        (p.sequence, "withdrawal", p.lot.number, p.payout, p.price, p.shares, p.fee_shares)
        for p in WithdrawalPart.objects.filter(withdrawal__vault_id=vault_id).select_related("lot")
    ]
    expected_flows = [
        (f.sequence, "deposit", f.lot_id, Decimal(f.amount), f.price, f.shares, Decimal(0))
        if f.kind == "deposit"
        else (f.sequence, "withdrawal", f.lot_id, Decimal(f.payout), f.price, f.shares, f.fee_shares)
        for f in engine.flows
    ]
    assert sorted(flows) == expected_flows
