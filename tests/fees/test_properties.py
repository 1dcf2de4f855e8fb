"""The fee model's properties (fees.core), with hypothesis, each to a stated rounding unit.

- Fees are never negative, a mark never decreases, no lot is charged a performance fee while ``P <= hwm``
  (note: rounding residue left in the vault can lift ``P`` a hair above a fresh mark), and the ledger
  reconciles (Σ fee shares == the fee account's shares; Σ per-depositor fees == the ledger's totals): exactly,
  after every step of random histories (refused steps must change nothing).
- One depositor's flows never change another's value: exactly, except that what rounding leaves in the vault
  (less than one base unit per payout, less than one share unit per mint) only ever *adds*, so the other's
  exact value moves by ``0 <= Δ < 1`` base unit (plus one share unit's worth per lot a withdrawal touches).
- Splitting an accrual interval into ``k`` steps changes the fee account's shares by at most ``k + 1`` share
  units (10^-18), values by at most that many share units times ``P``, and a rounded holding by at most one
  base unit.
- Splitting a withdrawal into ``k`` pieces at the same ``P`` changes the fee value by at most ``k`` share
  units' worth (``k · 10^-18 · P``: a fee under one share unit is not charged), the fee shares by at most
  ``k`` share units, and never pays more: the pieces pay between ``k - 1`` base units less and the same.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fees.core import Vault, VaultError, withdrawal_quote
from fees.core.numbers import FEE_CONTEXT, PRICE_QUANTUM, SHARE_QUANTUM, management_mint_rate, shares_down
from tests.fees.builders import T0, YEAR, at, check_invariants, exact_value, snapshot

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

depositors = st.sampled_from(["A", "B", "C"])
amounts = st.integers(min_value=1, max_value=10**13)
gaps = st.one_of(st.just(0), st.integers(min_value=1, max_value=2 * YEAR))
grosses = st.decimals(min_value=Decimal("-0.9"), max_value=Decimal("3"), places=4)
fractions = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1"), places=4)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("deposit"), gaps, depositors, amounts),
        st.tuples(st.just("return"), gaps, grosses),
        st.tuples(st.just("withdraw_shares"), gaps, depositors, fractions),
        st.tuples(st.just("withdraw_amount"), gaps, depositors, fractions),
        st.tuples(st.just("crystallise"), gaps),
        st.tuples(st.just("settle"), gaps),
        st.tuples(st.just("withdraw_too_much"), gaps, depositors),
    ),
    min_size=1,
    max_size=25,
)


def apply(vault: Vault, operation: tuple[Any, ...], when: int) -> None:
    kind, moment = operation[0], at(when)
    if kind == "deposit":
        vault.deposit(at=moment, depositor=operation[2], amount=operation[3])
    elif kind == "return":
        vault.apply_return(at=moment, gross=operation[2])
    elif kind == "crystallise":
        vault.crystallise(at=moment, reason="year_end")
    elif kind == "settle":
        vault.settle(at=moment)
    elif kind == "withdraw_shares":
        held = vault.accounts[operation[2]].shares if operation[2] in vault.accounts else Decimal(1)
        vault.withdraw(at=moment, depositor=operation[2], shares=max(shares_down(held * operation[3]), SHARE_QUANTUM))
    elif kind == "withdraw_amount":
        position = vault.position(operation[2]) if operation[2] in vault.accounts else None
        wanted = int(position.net_value * operation[3]) if position else 1
        vault.withdraw(at=moment, depositor=operation[2], amount=max(wanted, 1))
    else:
        held = vault.accounts[operation[2]].shares if operation[2] in vault.accounts else Decimal(0)
        vault.withdraw(at=moment, depositor=operation[2], shares=held + SHARE_QUANTUM)


@SETTINGS
@given(operations)
def test_every_step_keeps_the_invariants(history: list[tuple[Any, ...]]) -> None:
    vault = Vault(started_at=T0)
    marks: dict[int, Decimal] = {}
    when = 0
    for operation in history:
        when += operation[1]
        rows_before = len(vault.ledger)
        before = snapshot(vault)
        try:
            apply(vault, operation, when)
        except VaultError:
            # A refused step (more than held, unknown depositor, dust) changed nothing
            assert snapshot(vault) == before
            continue
        check_invariants(vault)
        for row in vault.ledger[rows_before:]:
            assert row.fee_value >= 0 and row.fee_shares >= 0  # fees never negative
        for lot in vault.lots.values():
            assert lot.hwm >= marks.get(lot.lot_id, lot.hwm)  # a mark never decreases
            marks[lot.lot_id] = lot.hwm


@SETTINGS
@given(operations, st.decimals(min_value=Decimal("-0.9"), max_value=Decimal("0"), places=4), fractions)
def test_no_performance_fee_while_the_price_is_at_or_below_the_mark(
    history: list[tuple[Any, ...]], fall: Decimal, fraction: Decimal
) -> None:
    # Given any history, then a market that does not rise
    vault = Vault(started_at=T0)
    when = 0
    for operation in history:
        when += operation[1]
        try:
            apply(vault, operation, when)
        except VaultError:
            continue
    when += YEAR
    vault.apply_return(at=at(when), gross=fall)
    price = vault.price()
    at_or_below = {lot.lot_id for lot in vault.lots.values() if lot.shares and price <= lot.hwm}
    rows = len(vault.ledger)

    # When every lot crystallises, Then none of the lots at or below their mark is charged
    vault.crystallise(at=at(when), reason="year_end")
    assert at_or_below.isdisjoint(row.lot_id for row in vault.ledger[rows:] if row.kind == "performance")

    # When part of each lot is withdrawn while P (which payout rounding may lift a hair) is at or below its mark,
    # Then nothing is charged and the payout is n · P rounded down
    for lot in list(vault.lots.values()):
        price = vault.price()
        if not lot.shares or price > lot.hwm:
            continue
        taken = max(shares_down(lot.shares * fraction), SHARE_QUANTUM)
        rows = len(vault.ledger)
        paid = vault.withdraw(at=at(when), depositor=lot.depositor, shares=taken, lot_id=lot.lot_id).payout
        with localcontext(FEE_CONTEXT):
            assert paid == int((taken * price).to_integral_value(rounding="ROUND_FLOOR"))
        assert vault.ledger[rows:] == []
    check_invariants(vault)


@SETTINGS
@given(
    st.lists(st.tuples(gaps, amounts, grosses), min_size=1, max_size=6),
    st.one_of(
        st.tuples(st.just("deposit"), amounts),
        st.tuples(st.just("withdraw"), fractions),
    ),
)
def test_another_depositors_flow_never_changes_a_depositors_value(
    history: list[tuple[int, int, Decimal]], flow: tuple[str, Any]
) -> None:
    vault = Vault(started_at=T0)
    when = 0
    for gap, amount, gross in history:
        when += gap
        vault.deposit(at=at(when), depositor="A", amount=amount)
        vault.deposit(at=at(when), depositor="B", amount=amount)
        vault.apply_return(at=at(when), gross=gross)
    vault.settle(at=at(when))
    value, net = exact_value(vault, "A"), vault.position("A").net_value

    # When B deposits or withdraws at the same instant
    pieces = 1
    try:
        if flow[0] == "deposit":
            vault.deposit(at=at(when), depositor="B", amount=flow[1])
        else:
            taken = max(shares_down(vault.accounts["B"].shares * flow[1]), SHARE_QUANTUM)
            pieces = len(vault.withdraw(at=at(when), depositor="B", shares=taken).flows)
    except VaultError:
        return  # dust too small to mint a share unit: refused, nothing changed (tested above)

    # Then A's value moved only by the rounding B's flow left in the vault: under one base unit for the payout
    # and one share unit per lot's fee shares
    with localcontext(FEE_CONTEXT):
        moved = exact_value(vault, "A") - value
        assert 0 <= moved <= 1 + pieces * SHARE_QUANTUM * vault.price()
    assert net <= vault.position("A").net_value <= net + 1


@SETTINGS
@given(
    amounts,
    grosses,
    st.integers(min_value=1, max_value=3 * YEAR),
    st.lists(st.floats(min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True), min_size=1, max_size=8),
)
def test_splitting_an_accrual_interval_changes_no_total(
    amount: int, gross: Decimal, seconds: int, cuts: list[float]
) -> None:
    def vault_at_start() -> Vault:
        vault = Vault(started_at=T0)
        vault.deposit(at=T0, depositor="A", amount=amount)
        vault.apply_return(at=T0, gross=gross)
        vault.deposit(at=T0, depositor="B", amount=amount)
        return vault

    whole, split = vault_at_start(), vault_at_start()
    whole.settle(at=at(seconds))
    # The cut points are whole seconds inside the interval (floats only pick them)
    points = sorted({int(seconds * cut) for cut in cuts} | {seconds})
    for point in points:
        split.settle(at=at(point))
    steps = len([p for p in points if p > 0])

    with localcontext(FEE_CONTEXT):
        share_bound = (steps + 1) * SHARE_QUANTUM * (1 + management_mint_rate(Decimal(seconds)))
        price_bound = share_bound * max(whole.price(), split.price())
        assert abs(split.fee_account_shares - whole.fee_account_shares) <= share_bound
        assert (
            abs(split.management_fee_total() - whole.management_fee_total())
            <= price_bound + steps * amount * 2 * PRICE_QUANTUM
        )
        assert abs(exact_value(split, "A") - exact_value(whole, "A")) <= price_bound
    assert abs(split.position("A").value - whole.position("A").value) <= 1
    check_invariants(split)


@SETTINGS
@given(
    st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1000000"), places=18),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=8),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=8),
    st.lists(st.floats(min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True), min_size=1, max_size=6),
)
def test_splitting_a_withdrawal_at_the_same_price_changes_no_total(
    shares: Decimal, price: Decimal, hwm: Decimal, cuts: list[float]
) -> None:
    with localcontext(FEE_CONTEXT):
        points = sorted({shares_down(shares * Decimal(cut)) for cut in cuts} - {Decimal(0)} | {shares})
        pieces = [b - a for a, b in zip([Decimal(0), *points], points, strict=False)]
        assert sum(pieces) == shares
        payout, fee, fee_shares = withdrawal_quote(shares, price, hwm)
        quotes = [withdrawal_quote(piece, price, hwm) for piece in pieces]
        k = len(pieces)
        # a piece's fee worth under one share unit is not charged: each piece may differ by that much
        assert abs(sum(q[1] for q in quotes) - fee) <= k * (PRICE_QUANTUM + SHARE_QUANTUM * price)
        assert abs(sum(q[2] for q in quotes) - fee_shares) <= k * SHARE_QUANTUM
        assert payout - (k - 1) <= sum(q[0] for q in quotes) <= payout


def test_splitting_a_withdrawal_in_the_engine_stays_within_one_base_unit_per_piece() -> None:
    whole, split = (Vault(started_at=T0) for _ in range(2))
    for vault in (whole, split):
        vault.deposit(at=T0, depositor="A", amount=123_456_789)
        vault.apply_return(at=at(1000), gross=Decimal("0.4321"))
    paid = whole.withdraw(at=at(2000), depositor="A", shares=Decimal("1000000")).payout
    pieces = [split.withdraw(at=at(2000), depositor="A", shares=Decimal(n)).payout for n in ("333333", "666667")]

    assert paid - 2 <= sum(pieces) <= paid + 2
    assert whole.accounts["A"].shares == split.accounts["A"].shares
