"""Fee collection in the pure engine: the fee leaves the vault's value and the fee account's shares worth it at P
(rounded up to the share unit) are burned; P never falls for the depositors; a collection worth more than the fee
account's shares is refused and changes nothing."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from fees.core import FeeCollectionError, VaultError
from fees.core.numbers import FEE_CONTEXT, price_down, shares_up
from tests.fees.builders import YEAR, at, check_invariants, snapshot, vault_with


def test_a_collection_burns_the_fee_shares_worth_the_amount_exactly() -> None:
    # given 1,000,000 deposited at P = 1 and a year of management fee (10,000 of value, in fee shares)
    vault = vault_with(("alice", 1_000_000))
    vault.settle(at=at(YEAR))
    fee_shares, total, value = vault.fee_account_shares, vault.shares_outstanding, vault.value
    price = vault.price()
    alice_before = vault.position("alice")

    # when 9,000 base units of fees are collected at the same instant
    flow = vault.fee_collect(at=at(YEAR), amount=9_000)

    # then exactly 9,000 leave the value and 9,000 / P shares (rounded up) leave the fee account
    with localcontext(FEE_CONTEXT):
        burned = shares_up(Decimal(9_000) / price)
    assert (flow.amount, flow.shares, flow.price, flow.kind) == (9_000, burned, price_down(price), "fee_collection")
    assert vault.value == value - 9_000
    assert vault.fee_account_shares == fee_shares - burned
    assert vault.shares_outstanding == total - burned
    assert vault.price() >= price  # rounding up the shares is in the depositors' favour
    assert vault.position("alice").value == alice_before.value  # Alice's holding does not pay the fee again
    assert vault.fee_collected_shares() == burned
    check_invariants(vault)


def test_the_whole_fee_account_can_be_collected_and_no_more() -> None:
    vault = vault_with(("alice", 1_000_000))
    vault.settle(at=at(YEAR))
    with localcontext(FEE_CONTEXT):
        worth = int(vault.fee_account_shares * vault.price())
    before = snapshot(vault)
    with pytest.raises(FeeCollectionError, match="cannot be collected"):
        vault.fee_collect(at=at(YEAR), amount=worth + 1)
    assert snapshot(vault) == before  # refused: nothing changed, not even the settlement
    for bad in (0, -1, True, 1.5):
        with pytest.raises(VaultError):
            vault.fee_collect(at=at(YEAR), amount=bad)  # type: ignore[arg-type]
    assert snapshot(vault) == before
    flow = vault.fee_collect(at=at(YEAR), amount=worth)
    assert flow.shares <= before["fee_account_shares"]
    assert vault.fee_account_shares == before["fee_account_shares"] - flow.shares
    check_invariants(vault)


def test_a_collection_settles_the_management_fee_first() -> None:
    vault = vault_with(("alice", 1_000_000))
    vault.settle(at=at(YEAR))
    rows = len(vault.ledger)
    vault.fee_collect(at=at(2 * YEAR), amount=1_000)
    assert len(vault.ledger) == rows + 1 and vault.ledger[-1].kind == "management"
    assert vault.settled_at == at(2 * YEAR)
    check_invariants(vault)
