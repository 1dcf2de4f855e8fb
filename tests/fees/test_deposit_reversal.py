"""The fee engine's deposit reversal (an on-chain deposit reorganised away): exact vectors, refusals that change
nothing, and the property that a deposit followed at once by its reversal leaves everyone else as they were."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fees.core import DepositReversalError, Vault, VaultError
from tests.fees.builders import T0, YEAR, at, check_invariants, snapshot, vault_with


def test_reversal_at_the_deposit_instant_restores_the_vault_exactly() -> None:
    vault = vault_with(("A", 1_000_000))
    vault.apply_return(at=T0, gross=Decimal("0.5"))  # P = 1.5
    before = snapshot(vault)
    flow = vault.deposit(at=T0, depositor="B", amount=300_000)
    assert flow.shares == Decimal("200000")

    reversal = vault.deposit_reverse(at=T0, lot_id=flow.lot_id, amount=300_000, shares=flow.shares)

    assert (reversal.kind, reversal.lot_id, reversal.amount) == ("deposit_reversal", 2, 300_000)
    assert reversal.shares == Decimal(200_000)
    assert reversal.price == Decimal("1.5")
    assert vault.value == before["value"] == Decimal("1500000")
    assert vault.shares_outstanding == before["shares_outstanding"] == Decimal("1000000")
    assert vault.lots[2].shares == 0
    assert (vault.accounts["B"].shares, vault.accounts["B"].deposited) == (0, 0)
    assert vault.position("A").value == 1_500_000
    assert [f.kind for f in vault.flows] == ["deposit", "deposit", "deposit_reversal"]
    assert [f.sequence for f in vault.flows] == [1, 2, 3]
    check_invariants(vault)


def test_reversal_later_settles_first_and_keeps_the_fee_charged_meanwhile() -> None:
    vault = vault_with(("A", 1_000_000), ("B", 1_000_000))

    reversal = vault.deposit_reverse(at=at(YEAR), lot_id=2, amount=1_000_000, shares=Decimal(1_000_000))

    # A year of 1% management fee on 2,000,000: 20,000 of value; the fee shares minted are rounded down to the
    # share unit, so P is a hair above 0.99.
    assert vault.ledger[0].fee_value == 20_000
    assert reversal.price == Decimal("0.99000000000000000000000000990000000000000000000000")
    assert reversal.sequence == 4  # deposits 1 and 2, the accrual 3
    assert reversal.at == at(YEAR)
    assert vault.value == 1_000_000
    assert vault.shares_outstanding == Decimal(1_000_000) + vault.fee_account_shares
    assert vault.accounts["B"].management_fee == 10_000  # charged while the lot existed, not given back
    assert vault.accounts["B"].shares == 0 and vault.accounts["B"].deposited == 0
    check_invariants(vault)


def test_reversal_refused_once_the_lot_was_partly_withdrawn_and_nothing_changes() -> None:
    vault = vault_with(("A", 1_000_000), ("B", 500_000))
    vault.withdraw(at=T0, depositor="B", shares=Decimal("1"))
    before = snapshot(vault)

    with pytest.raises(DepositReversalError) as refused:
        vault.deposit_reverse(at=at(100), lot_id=2, amount=500_000, shares=Decimal(500_000))

    assert str(refused.value).startswith("lot 2 holds 499999.000000000000000000 shares, not the 500000 its deposit")
    assert snapshot(vault) == before  # not even the management fee settled


def test_reversal_refused_when_it_would_leave_shares_without_value() -> None:
    # Only B's deposit, a year of management fee (fee shares exist), then the value falls below the deposit.
    vault = vault_with(("B", 1_000_000))
    vault.apply_return(at=at(YEAR), gross=Decimal("-0.5"))
    before = snapshot(vault)

    with pytest.raises(DepositReversalError, match="cannot give back 1000000 base units"):
        vault.deposit_reverse(at=at(YEAR), lot_id=1, amount=1_000_000, shares=Decimal(1_000_000))

    assert snapshot(vault) == before


@pytest.mark.parametrize(("lot_id", "amount"), [(9, 100), (True, 100), (1, 0), (1, -5)])
def test_reversal_refuses_bad_input(lot_id: int, amount: int) -> None:
    vault = vault_with(("A", 100))
    before = snapshot(vault)

    with pytest.raises(VaultError):
        vault.deposit_reverse(at=T0, lot_id=lot_id, amount=amount, shares=Decimal(100))

    assert snapshot(vault) == before


depositors = st.sampled_from(["A", "B", "C"])
amounts = st.integers(min_value=1, max_value=10**13)
gaps = st.one_of(st.just(0), st.integers(min_value=1, max_value=YEAR))
grosses = st.decimals(min_value=Decimal("-0.9"), max_value=Decimal("3"), places=4)
history = st.lists(
    st.one_of(
        st.tuples(st.just("deposit"), gaps, depositors, amounts),
        st.tuples(st.just("return"), gaps, grosses),
        st.tuples(st.just("crystallise"), gaps),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=history, depositor=st.sampled_from(["A", "B", "D"]), amount=amounts, gap=gaps)
def test_deposit_then_its_reversal_leaves_every_holding_unchanged(
    history: list[tuple], depositor: str, amount: int, gap: int
) -> None:
    vault = Vault(started_at=T0)
    when = 0
    for operation in history:
        when += operation[1]
        if operation[0] == "deposit":
            vault.deposit(at=at(when), depositor=operation[2], amount=operation[3])
        elif operation[0] == "return":
            vault.apply_return(at=at(when), gross=operation[2])
        else:
            vault.crystallise(at=at(when), reason="year_end")
    when += gap
    vault.settle(at=at(when))  # the deposit's own settlement, done first so the state to compare is settled
    before = snapshot(vault)
    positions = {name: vault.position(name) for name in vault.accounts}
    try:
        flow = vault.deposit(at=at(when), depositor=depositor, amount=amount)
    except VaultError:
        return  # too small to buy a share unit at this price: nothing to reverse

    vault.deposit_reverse(at=at(when), lot_id=flow.lot_id, amount=amount, shares=flow.shares)

    assert vault.value == before["value"]
    assert vault.shares_outstanding == before["shares_outstanding"]
    assert vault.fee_account_shares == before["fee_account_shares"]
    assert vault.price() == Vault._price(before["value"], before["shares_outstanding"])
    for name, position in positions.items():  # the depositor's own older holding included
        assert vault.position(name) == position
    check_invariants(vault)
