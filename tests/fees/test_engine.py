"""The fee engine's rules one at a time: lots, withdrawals, crystallisation, refusals that change nothing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from fees.core import InsufficientSharesError, UnknownDepositorError, Vault, VaultError, withdrawal_quote
from tests.fees.builders import HALF_YEAR, T0, YEAR, at, check_invariants, snapshot, vault_with


def test_first_deposit_mints_one_share_per_base_unit_and_marks_the_lot_at_one() -> None:
    vault = vault_with(("A", 1_000_000))

    assert vault.lots[1].shares == Decimal("1000000")
    assert vault.lots[1].hwm == 1
    assert vault.shares_outstanding == Decimal("1000000")
    assert vault.value == 1_000_000
    assert [f.kind for f in vault.flows] == ["deposit"]
    assert vault.ledger == []


def test_second_deposit_is_a_new_lot_with_its_own_mark() -> None:
    vault = vault_with(("A", 1_000_000))
    vault.apply_return(at=T0, gross=Decimal("0.5"))

    vault.deposit(at=T0, depositor="A", amount=300_000)

    assert [lot.hwm for lot in vault.lots.values()] == [1, Decimal("1.5")]
    assert vault.lots[2].shares == Decimal("200000")
    assert vault.accounts["A"].lot_ids == [1, 2]
    assert vault.accounts["A"].shares == Decimal("1200000")


def test_deposit_after_time_settles_the_management_fee_first_at_the_value_before() -> None:
    vault = vault_with(("A", 1_000_000))

    flow = vault.deposit(at=at(YEAR), depositor="B", amount=990_000)

    assert len(vault.ledger) == 1 and vault.ledger[0].fee_value == 10_000
    assert flow.price.to_eng_string().startswith("0.99000000000000000000000000")
    assert flow.shares == Decimal("999999.999999999999999999")  # 990000 / P, rounded down
    check_invariants(vault)


def test_withdrawal_takes_the_oldest_lot_first() -> None:
    vault = vault_with(("A", 100), ("A", 200))

    result = vault.withdraw(at=T0, depositor="A", shares=Decimal("150"))

    assert [(f.lot_id, f.shares, f.payout) for f in result.flows] == [(1, 100, 100), (2, 50, 50)]
    assert [lot.shares for lot in vault.lots.values()] == [0, 150]
    assert vault.accounts["A"].paid_out == 150
    assert vault.value == 150
    check_invariants(vault)


def test_withdrawal_from_a_named_lot() -> None:
    vault = vault_with(("A", 100), ("A", 200))

    vault.withdraw(at=T0, depositor="A", shares=Decimal("50"), lot_id=2)

    assert [lot.shares for lot in vault.lots.values()] == [100, 150]


def test_withdrawal_above_the_mark_crystallises_the_withdrawn_shares_only() -> None:
    # Given 1000 shares marked at 1 and P = 2
    vault = vault_with(("A", 1000))
    vault.apply_return(at=T0, gross=Decimal("1"))

    # When 100 shares are withdrawn
    result = vault.withdraw(at=T0, depositor="A", shares=Decimal("100"))

    # Then the fee is 0.05 * 100 * (2 - 1) = 5 = 2.5 shares, the payout 100 * 2 - 5 = 195,
    # and the 900 remaining shares keep their mark of 1
    (row,) = vault.ledger
    assert (row.kind, row.reason, row.shares, row.fee_value, row.fee_shares) == (
        "performance",
        "withdrawal",
        Decimal("100"),
        Decimal("5"),
        Decimal("2.5"),
    )
    assert (row.hwm_before, row.hwm_after) == (1, 1)
    assert result.payout == 195
    assert vault.lots[1].shares == 900 and vault.lots[1].hwm == 1
    assert vault.fee_account_shares == Decimal("2.5")
    assert vault.shares_outstanding == Decimal("902.5")
    assert vault.value == 2000 - 195
    assert vault.price() == 2  # nobody else's value moved
    check_invariants(vault)


def test_withdrawal_by_amount_pays_that_amount_exactly() -> None:
    vault = vault_with(("A", 1000), ("A", 1000))
    vault.apply_return(at=at(HALF_YEAR), gross=Decimal("0.37"))

    result = vault.withdraw(at=at(HALF_YEAR), depositor="A", amount=1500)

    assert result.payout == 1500
    assert [f.lot_id for f in result.flows] == [1, 2]
    assert vault.accounts["A"].paid_out == 1500
    check_invariants(vault)


def test_withdrawal_quote_formula() -> None:
    payout, fee, fee_shares = withdrawal_quote(Decimal("3"), Decimal("1.1"), Decimal("1"))

    assert fee == Decimal("0.015")  # 0.05 * 3 * 0.1
    assert fee_shares == Decimal("0.013636363636363636")  # 0.015 / 1.1, rounded down
    assert payout == 3  # 3.3 - 0.015 = 3.285, rounded down


def test_year_end_crystallisation_moves_the_mark_and_repeating_it_charges_nothing() -> None:
    vault = vault_with(("A", 1000))
    vault.apply_return(at=T0, gross=Decimal("0.5"))

    first = vault.crystallise(at=at(YEAR), reason="year_end")
    second = vault.crystallise(at=at(YEAR), reason="requested")

    assert len(first) == 1 and second == []
    assert first[0].hwm_after == vault.lots[1].hwm >= vault.price()
    check_invariants(vault)


def test_no_clawback_after_a_loss() -> None:
    vault = vault_with(("A", 1000))
    vault.apply_return(at=T0, gross=Decimal("1"))
    vault.crystallise(at=T0)
    charged = vault.performance_fee_total()
    mark = vault.lots[1].hwm

    vault.apply_return(at=at(100), gross=Decimal("-0.5"))
    rows = vault.crystallise(at=at(200))

    assert rows == []
    assert vault.performance_fee_total() == charged == Decimal("50")
    assert vault.lots[1].hwm == mark == 2


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        (
            lambda v: v.withdraw(at=at(YEAR), depositor="A", shares=Decimal("1000.000000000000000001")),
            InsufficientSharesError,
        ),
        (lambda v: v.withdraw(at=at(YEAR), depositor="A", amount=991), InsufficientSharesError),
        (lambda v: v.withdraw(at=at(YEAR), depositor="Z", shares=Decimal("1")), UnknownDepositorError),
        (lambda v: v.withdraw(at=at(YEAR), depositor="A", shares=Decimal("-1")), VaultError),
        (lambda v: v.withdraw(at=at(YEAR), depositor="A", shares=Decimal("1"), lot_id=7), VaultError),
        (lambda v: v.withdraw(at=at(YEAR), depositor="A", shares=Decimal("1"), amount=1), VaultError),
        (lambda v: v.deposit(at=at(YEAR), depositor="B", amount=-5), VaultError),
        (lambda v: v.deposit(at=at(YEAR), depositor="B", amount=0), VaultError),
        (lambda v: v.deposit(at=at(-1), depositor="B", amount=5), VaultError),
        (lambda v: v.deposit(at=datetime(2026, 1, 1), depositor="B", amount=5), VaultError),  # noqa: DTZ001
        (lambda v: v.apply_return(at=at(YEAR), gross=Decimal("-1")), VaultError),
    ],
)
def test_refused_operations_change_nothing(operation, error) -> None:  # type: ignore[no-untyped-def]
    # Given a vault where a year of management fee is due
    vault = vault_with(("A", 1000))
    before = snapshot(vault)

    # When an operation is refused, Then not even the due settlement was applied
    with pytest.raises(error):
        operation(vault)
    assert snapshot(vault) == before
    assert vault.ledger == [] and len(vault.flows) == 1


def test_an_empty_vault_accrues_nothing() -> None:
    vault = Vault(started_at=T0)

    assert vault.settle(at=at(YEAR)) is None
    assert vault.settled_at == at(YEAR)
    assert vault.ledger == []


def test_a_naive_time_is_refused() -> None:
    vault = Vault(started_at=T0)
    with pytest.raises(VaultError, match="at must be an aware datetime"):
        vault.deposit(at=T0.replace(tzinfo=None), depositor="a", amount=1)
    with pytest.raises(VaultError, match="started_at must be an aware datetime"):
        Vault(started_at=T0.replace(tzinfo=None))
