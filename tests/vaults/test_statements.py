"""Depositor statements from the database: the issue's example scenario run through the vault services gives the
public fee calculator's numbers exactly; periods split the year; CSV and PDF renderings carry the same figures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fees.core.numbers import price_down
from fees.simulation import EXAMPLE_SCENARIO, scenario_simulate
from hftplatform.core.decimal_text import decimal_text_trim_zeros
from tests.factories import UserFactory
from tests.vaults.builders import deposit, vault_new
from vaults import services
from vaults.core.statements import StatementError, statement_csv, statement_pdf
from vaults.selectors import statement_compute

pytestmark = pytest.mark.django_db

START = datetime(2024, 12, 31, tzinfo=UTC)
END = datetime(2026, 6, 30, tzinfo=UTC)


def _example():  # type: ignore[no-untyped-def]
    """The issue's scenario through the services (the year end is crystallised by the first write of 2026)."""
    vault, a, b = vault_new(), UserFactory(), UserFactory()
    deposit(vault, a, 1_000_000, seconds=0)
    mid = datetime(2025, 7, 2, 12, tzinfo=UTC)
    services.vault_return_record(vault_id=vault.pk, gross=Decimal("0.20"), at=mid)
    services.vault_deposit_record(
        vault_id=vault.pk, depositor_id=b.pk, amount=500_000, at=mid, idempotency_key="b", recorded_by_id=a.pk
    )
    services.vault_withdrawal_request(
        vault_id=vault.pk, depositor_id=a.pk, shares=Decimal(40_000), at=datetime(2026, 3, 1, tzinfo=UTC)
    )
    return vault, a, b


def test_statement_equals_the_fee_calculator_for_the_example() -> None:
    vault, a, b = _example()
    expected = scenario_simulate(EXAMPLE_SCENARIO)["depositors"]
    for user, name in ((a, "A"), (b, "B")):
        statement = statement_compute(vault_id=vault.pk, depositor_id=user.pk, start=START, end=END)
        want = expected[name]
        assert statement.opening_value == 0
        assert statement.closing_value == int(want["net_value"])
        assert (
            decimal_text_trim_zeros(price_down(statement.management_fee)) == want["management_fee"]
        )  # printed at 50 places
        assert decimal_text_trim_zeros(price_down(statement.performance_fee)) == want["performance_fee"]
        assert statement.withdrawals == int(want["paid_out"])
        assert format(statement.closing_shares, "f") == want["shares"]
    statement = statement_compute(vault_id=vault.pk, depositor_id=a.pk, start=START, end=END)
    assert statement.deposits == 1_000_000
    assert statement.withdrawals == 47_442
    assert statement.closing_value == 1_125_488
    assert statement.net_return == 1_125_488 - 0 - 1_000_000 + 47_442


def test_two_periods_add_up_to_the_whole() -> None:
    vault, a, _ = _example()
    cut = datetime(2025, 12, 31, tzinfo=UTC)
    first = statement_compute(vault_id=vault.pk, depositor_id=a.pk, start=START, end=cut)
    second = statement_compute(vault_id=vault.pk, depositor_id=a.pk, start=cut, end=END)
    whole = statement_compute(vault_id=vault.pk, depositor_id=a.pk, start=START, end=END)
    assert first.closing_value == second.opening_value
    assert first.deposits + second.deposits == whole.deposits == 1_000_000
    assert (first.withdrawals, second.withdrawals) == (0, 47_442)
    assert first.performance_fee == 0  # the year end (2026-01-01) falls in the second period
    assert second.performance_fee == whole.performance_fee
    # A statement boundary settles the fee at the cut on its own copy; the vault itself did not settle there,
    # so the two paths differ by the rounding of one extra settlement: its fee shares rounded down to 10^-18
    # lift P by ~10^-24 (as in the engine's worked-example test), no more.
    assert abs(first.management_fee + second.management_fee - whole.management_fee) < Decimal("1e-20")
    assert first.net_return + second.net_return == whole.net_return


def test_a_statement_before_any_write_of_the_new_year_includes_the_year_end() -> None:
    # given only 2025's events (no write in 2026 yet, so no crystallisation is logged)
    vault, user = vault_new(), UserFactory()
    deposit(vault, user, 100_000)
    services.vault_return_record(vault_id=vault.pk, gross=Decimal("0.2"), at=datetime(2025, 1, 1, tzinfo=UTC))
    statement = statement_compute(
        vault_id=vault.pk, depositor_id=user.pk, start=START, end=datetime(2026, 1, 2, tzinfo=UTC)
    )
    # then the year end's 5% on the 20% gain (940 at P = 1.188) is in the statement
    assert abs(statement.performance_fee - 940) < Decimal("1e-20")


def test_bad_period_is_refused() -> None:
    vault, user = vault_new(), UserFactory()
    with pytest.raises(StatementError, match="before it starts"):
        statement_compute(vault_id=vault.pk, depositor_id=user.pk, start=END, end=START)


def test_csv_and_pdf_carry_the_figures() -> None:
    vault, a, _ = _example()
    statement = statement_compute(vault_id=vault.pk, depositor_id=a.pk, start=START, end=END)
    rows = dict(csv.reader(io.StringIO(statement_csv(statement))))
    assert rows["closing value"] == "1125488"
    assert rows["withdrawals"] == "47442"
    assert rows["performance fee"] == "9400.0000000000000000000594000000000000000000000594"
    assert len(rows) == 14  # header + 13 figures
    pdf = statement_pdf(statement)
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n")
    assert b"(closing value                  1125488) Tj" in pdf
    # the cross-reference table points at each object
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[xref : xref + 4] == b"xref"
    offsets = [int(line[:10]) for line in pdf[xref:].split(b"\n")[3:8]]
    assert [pdf[o : o + 7] for o in offsets] == [f"{n} 0 obj".encode() for n in range(1, 6)]


def test_a_naive_period_is_refused() -> None:
    vault, user = vault_new(), UserFactory()
    with pytest.raises(StatementError, match="the statement's start must be an aware datetime"):
        statement_compute(vault_id=vault.pk, depositor_id=user.pk, start=START.replace(tzinfo=None), end=END)
