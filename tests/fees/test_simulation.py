"""The fee calculator's scenarios: the issue's example end to end, the year-end rule, and every invalid input
refused with an error naming the event (and no result)."""

from __future__ import annotations

import copy
from decimal import Decimal, localcontext
from typing import Any

import pytest

from fees.core.numbers import FEE_CONTEXT, price_down
from fees.simulation import (
    EXAMPLE_SCENARIO,
    MAX_EVENTS,
    ScenarioError,
    scenario_parse,
    scenario_run,
    scenario_simulate,
    year_ends,
)
from tests.fees.builders import EXAMPLE_RESULT


def scenario(*events: dict[str, Any], **top: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"start": "2025-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z", "asset_decimals": 6}
    data.update(top)
    data["events"] = list(events)
    return data


def deposit(at: str = "2025-01-01T00:00:00Z", depositor: str = "A", amount: Any = "1000000") -> dict[str, Any]:
    return {"at": at, "type": "deposit", "depositor": depositor, "amount": amount}


def test_issue_example_result() -> None:
    assert scenario_simulate(EXAMPLE_SCENARIO) == EXAMPLE_RESULT


def test_issue_example_agrees_with_closed_forms() -> None:
    vault = scenario_run(scenario_parse(EXAMPLE_SCENARIO))

    with localcontext(FEE_CONTEXT):
        # 2025-01-01 .. 2026-06-30 is 545 days; flows move P only by what rounding leaves in the vault (A's
        # payout rounded down: under one base unit over the shares left), so P = 1.2 · 0.99^(545/365) + that
        closed_form = Decimal("1.2") * Decimal("0.99") ** (Decimal(545) / 365)
        assert 0 <= vault.price() - closed_form < 1 / vault.shares_outstanding
        assert 0 <= price_down(vault.performance_fee_total()) - 9400 < Decimal("1e-18")  # P lifted by share rounding
    rows = [(row.kind, getattr(row, "reason", None)) for row in vault.ledger]
    # settlements before: the return, B's deposit (none: same instant), the year end, the withdrawal, the end
    assert rows == [
        ("management", None),
        ("management", None),
        ("performance", "year_end"),
        ("management", None),
        ("management", None),
    ]


def test_year_end_crystallises_automatically_unless_turned_off() -> None:
    events = [deposit(), {"at": "2025-06-01T00:00:00Z", "type": "return", "gross": "0.5"}]

    auto = scenario_simulate(scenario(*events, end="2026-02-01T00:00:00Z"))
    manual = scenario_simulate(scenario(*events, end="2026-02-01T00:00:00Z", auto_crystallise=False))

    assert auto["performance_fee_total"] != "0"
    assert auto["depositors"]["A"]["performance_fee"] == auto["performance_fee_total"]
    assert manual["performance_fee_total"] == "0"
    assert int(manual["depositors"]["A"]["net_value"]) < int(manual["depositors"]["A"]["value"])  # accrued


def test_year_ends_inside_the_scenario() -> None:
    parsed = scenario_parse(scenario(end="2027-01-01T00:00:00Z"))

    assert [moment.isoformat() for moment in year_ends(parsed.start, parsed.end)] == [
        "2026-01-01T00:00:00+00:00",
        "2027-01-01T00:00:00+00:00",
    ]


def test_withdraw_by_amount_pays_that_amount() -> None:
    result = scenario_simulate(
        scenario(
            deposit(),
            {"at": "2025-03-01T00:00:00Z", "type": "return", "gross": "0.1"},
            {"at": "2025-09-01T00:00:00Z", "type": "withdraw", "depositor": "A", "amount": "250000"},
        )
    )

    assert result["depositors"]["A"]["paid_out"] == "250000"


BAD = [
    (
        [deposit(), {"at": "2025-02-01T00:00:00Z", "type": "airdrop"}],
        "events[1]: unknown event type 'airdrop'",
        "events[1].type",
    ),
    ([deposit(amount="-5")], "events[0] (deposit): events[0].amount must not be negative", "events[0].amount"),
    ([deposit(amount="0")], "events[0] (deposit): events[0].amount must be positive", "events[0].amount"),
    ([deposit(amount="1.5")], "events[0] (deposit): events[0].amount must be a whole number", "events[0].amount"),
    ([deposit(amount=1.5)], "events[0] (deposit): events[0].amount must be a string of base units", "events[0].amount"),
    (
        [
            deposit(),
            {
                "at": "2025-02-01T00:00:00Z",
                "type": "withdraw",
                "depositor": "A",
                "shares": "1000000.000000000000000001",
            },
        ],
        "events[1] (withdraw): withdrawing 1000000.000000000000000001 shares but depositor 'A' holds 1000000",
        "events[1].shares",
    ),
    (
        [deposit(), {"at": "2025-02-01T00:00:00Z", "type": "withdraw", "depositor": "B", "shares": "1"}],
        "events[1] (withdraw): unknown depositor 'B'",
        "events[1].depositor",
    ),
    (
        [deposit(at="2025-03-01T00:00:00Z"), deposit(at="2025-02-01T00:00:00Z")],
        "events[1] (deposit): out of order",
        "events[1].at",
    ),
    (
        [deposit(at="2025-02-30T00:00:00Z")],
        "events[0] (deposit): events[0].at is not an ISO 8601 datetime",
        "events[0].at",
    ),
    ([deposit(at="2025-02-01T00:00:00")], "events[0] (deposit): events[0].at needs a UTC offset", "events[0].at"),
    (
        [deposit(at="2024-12-31T00:00:00Z")],
        "events[0] (deposit): at 2024-12-31T00:00:00+00:00 is outside",
        "events[0].at",
    ),
    (
        [{"at": "2025-02-01T00:00:00Z", "type": "return", "gross": "-1"}],
        "events[0] (return): events[0].gross must be above -1",
        "events[0].gross",
    ),
    (
        [{"at": "2025-02-01T00:00:00Z", "type": "return", "gross": "1e3"}],
        "events[0] (return): events[0].gross must be a decimal",
        "events[0].gross",
    ),
    (
        [{"at": "2025-02-01T00:00:00Z", "type": "crystallise", "depositor": "A"}],
        "events[0] (crystallise): unknown field 'depositor'",
        "events[0].depositor",
    ),
    (
        [deposit(), {"at": "2025-02-01T00:00:00Z", "type": "withdraw", "depositor": "A"}],
        "events[1] (withdraw): give exactly one of shares or amount",
        "events[1].shares",
    ),
    ([{"type": "deposit", "depositor": "A", "amount": "1"}], "events[0] (deposit): missing at", "events[0].at"),
    (["deposit"], "events[0]: an event must be an object", "events[0]"),
]


@pytest.mark.parametrize(("events", "message", "field"), BAD)
def test_invalid_scenarios_name_the_event(events: list[Any], message: str, field: str) -> None:
    data = scenario(*events)
    original = copy.deepcopy(data)

    with pytest.raises(ScenarioError) as raised:
        scenario_simulate(data)

    assert raised.value.message.startswith(message), raised.value.message
    assert raised.value.field == field
    assert data == original  # the input is not touched either


@pytest.mark.parametrize(
    ("top", "message", "field"),
    [
        ({"start": "yesterday"}, "scenario: start is not an ISO 8601 datetime", "start"),
        ({"end": "2024-01-01T00:00:00Z"}, "scenario: end 2024-01-01T00:00:00Z is before start", "end"),
        ({"asset_decimals": "6"}, "asset_decimals must be an integer from 0 to 36", "asset_decimals"),
        ({"auto_crystallise": "no"}, "auto_crystallise must be true or false", "auto_crystallise"),
        ({"fees": "none"}, "unknown field 'fees'", "fees"),
        ({"events": [deposit()] * (MAX_EVENTS + 1)}, f"at most {MAX_EVENTS} events", "events"),
        ({"end": "2200-01-01T00:00:00Z"}, "scenario: at most 100 years", "end"),
    ],
)
def test_invalid_scenario_fields(top: dict[str, Any], message: str, field: str) -> None:
    data = scenario(**top)
    if "events" in top:
        data["events"] = top["events"]

    with pytest.raises(ScenarioError) as raised:
        scenario_simulate(data)

    assert raised.value.message.startswith(message), raised.value.message
    assert raised.value.field == field


def test_not_an_object() -> None:
    with pytest.raises(ScenarioError, match="the scenario must be a JSON object"):
        scenario_simulate([])
