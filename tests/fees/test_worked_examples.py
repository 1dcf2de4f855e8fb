"""The fee model's worked examples (fees.core), digit for digit.

Where the model writes an exact real number (``791.2457912457912457…``) the engine's value is that number after the
specified rounding: fee shares are rounded down to 10^-18, so a depositor keeps ``99208.754208754208754209``
shares (the real number ``99208.754208754208754208754…`` plus the rounded-off share unit, in their favour).
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from fees.core import Vault
from fees.core.numbers import FEE_CONTEXT, PRICE_QUANTUM, management_factor, price_down
from hftplatform.core.decimal_text import decimal_text_trim_zeros
from tests.fees.builders import HALF_YEAR, T0, YEAR, at, check_invariants, vault_with

MILLION = 1_000_000


def test_one_year_flat_takes_exactly_one_percent() -> None:
    # Given 1,000,000 deposited into a flat market
    vault = vault_with(("A", MILLION))

    # When one year (31,536,000 s) is settled
    row = vault.settle(at=at(YEAR))

    # Then the depositor holds 990,000 and the management fee is 10,000.00
    assert row is not None
    assert row.factor == Decimal("0.99")
    assert row.fee_value == Decimal("10000")
    assert row.fee_shares == Decimal("10101.010101010101010101")  # 1e6 * (1/0.99 - 1), rounded down
    position = vault.position("A")
    assert (position.value, position.net_value) == (990_000, 990_000)
    assert position.management_fee == Decimal("10000")
    # P = 1e6 / 1010101.010101010101010101: 0.99 lifted by the 1.01e-20 shares rounded off (+9.9e-27)
    assert decimal_text_trim_zeros(price_down(vault.price())) == "0.9900000000000000000000000099"
    check_invariants(vault)


def test_half_year_fee_digit_for_digit() -> None:
    vault = vault_with(("A", MILLION))

    row = vault.settle(at=at(HALF_YEAR))

    assert row is not None
    text = decimal_text_trim_zeros(row.fee_value)
    assert text.startswith("5012.562893380045265520178998793994821873436")  # the model's digits
    assert text == "5012.56289338004526552017899879399482187343632319"
    # Cross-check K(1/2) against a square root (another algorithm) at the engine's precision
    with localcontext(FEE_CONTEXT):
        root = Decimal("0.99").sqrt()
        assert row.fee_value == MILLION * (1 - root).quantize(PRICE_QUANTUM, rounding="ROUND_DOWN")
        assert abs(management_factor(Decimal(HALF_YEAR)) - root) < Decimal("1e-98")


def test_two_half_years_give_exactly_990000_not_the_linear_990025() -> None:
    vault = vault_with(("A", MILLION))

    vault.settle(at=at(HALF_YEAR))
    vault.settle(at=at(YEAR))

    position = vault.position("A")
    assert position.value == 990_000  # linear accrual (0.5% twice, compounded on the rest) would give 990,025
    assert len(vault.ledger) == 2
    one_step = vault_with(("A", MILLION))
    one_step.settle(at=at(YEAR))
    # The only difference is the share unit rounded off at the extra step, worth far below one base unit
    assert abs(vault.management_fee_total() - one_step.management_fee_total()) < Decimal("1e-20")
    assert abs(vault.fee_account_shares - one_step.fee_account_shares) <= Decimal("2e-18")
    check_invariants(vault)


def test_year_is_365_days_even_in_a_leap_year() -> None:
    vault = Vault(started_at=T0.replace(year=2024))
    vault.deposit(at=T0.replace(year=2024), depositor="A", amount=MILLION)

    vault.settle(at=T0.replace(year=2024, month=12, day=31))  # 365 days after 2024-01-01

    assert vault.ledger[0].seconds == YEAR
    assert vault.position("A").value == 990_000


def test_twenty_percent_gross_over_a_year_crystallised_at_year_end() -> None:
    # Given 100,000 shares at P = 1 and a gross +20% over the year
    vault = vault_with(("A", 100_000))
    vault.apply_return(at=T0, gross=Decimal("0.2"))

    # When the year end crystallises
    rows = vault.crystallise(at=at(YEAR), reason="year_end")

    # Then P = 1.188, the performance fee is 940.00 = 791.2457912457912457… shares, the depositor keeps
    # 99,208.754208754208754209 shares worth 117,860 and the new mark is 1.188
    assert len(rows) == 1
    row = rows[0]
    assert decimal_text_trim_zeros(row.price).startswith("1.18800000000000000000000")
    assert decimal_text_trim_zeros(row.fee_value).startswith("940.0000000000000000000")
    assert abs(row.fee_value - 940) < Decimal("1e-20")  # 1e-20: the rounded-down share unit lifts P by 1.2e-24
    assert row.fee_shares == Decimal("791.245791245791245791")
    lot = vault.lots[1]
    assert lot.shares == Decimal("99208.754208754208754209")
    assert decimal_text_trim_zeros(lot.hwm).startswith("1.18800000000000000000000")
    assert lot.hwm >= vault.price()
    position = vault.position("A")
    assert (position.value, position.net_value) == (117_860, 117_860)
    assert position.management_fee == Decimal("1200")  # 1% of 120,000
    check_invariants(vault)
