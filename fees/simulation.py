"""The public fee calculator: a scenario (JSON) in, the state at its end (JSON) out, on the pure fee engine.

Shared by ``manage.py fees simulate FILE.json``, ``POST /api/v1/fees/simulate/`` and the calculator page, so all
three give the same result JSON for the same scenario. No Django import.

Reading of the scenario's numbers (issue 5, :mod:`fees.core`): ``amount`` is an integer number of the asset's **base
units** (``"1000000"`` with ``asset_decimals`` 6 is 1.000000 USDC), as deposits arrive on chain. The engine
counts value in base units too; an empty vault prices a share at one base unit, so that deposit mints
1,000,000 shares and the issue's ``"shares": "40000"`` is 4% of it. ``asset_decimals`` therefore changes no
number in the result; it tells a reader (and the calculator page) what one base unit is. In the result:

- ``nav_per_share``: base units per share; fee values (``management_fee_total``, ``performance_fee_total``,
  each depositor's ``management_fee`` and ``performance_fee``): base units. These are exact at the engine's
  scale of 50 decimal places (rounded down there), printed without trailing zeros.
- ``shares``: 18 decimal places. ``value`` (shares · P), ``net_value`` (minus the accrued performance fee not
  yet charged) and ``paid_out``: whole base units, rounded down as a payout is.
- ``management_fee`` of a depositor is what the management fee took from their shares; ``performance_fee`` is
  what crystallised (year ends, withdrawals, ``crystallise`` events), not the accrued part.

Events at one instant apply in the order listed, after any automatic year-end crystallisation at that instant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from fees.core.numbers import price_down, shares_text
from fees.core.vault import InsufficientSharesError, UnknownDepositorError, Vault, VaultError
from hftplatform.core.decimal_text import decimal_text_trim_zeros
from hftplatform.core.utc import utc_aware

EventType = Literal["deposit", "return", "crystallise", "withdraw"]

# A public endpoint runs these: bounds keep one request to a fraction of a second.
MAX_EVENTS = 1_000
MAX_YEARS = 100
MAX_TEXT = 64

EXAMPLE_SCENARIO: dict[str, Any] = {
    "start": "2025-01-01T00:00:00Z",
    "end": "2026-06-30T00:00:00Z",
    "asset_decimals": 6,
    "events": [
        {"at": "2025-01-01T00:00:00Z", "type": "deposit", "depositor": "A", "amount": "1000000"},
        {"at": "2025-07-02T12:00:00Z", "type": "return", "gross": "0.20"},
        {"at": "2025-07-02T12:00:00Z", "type": "deposit", "depositor": "B", "amount": "500000"},
        {"at": "2026-01-01T00:00:00Z", "type": "crystallise"},
        {"at": "2026-03-01T00:00:00Z", "type": "withdraw", "depositor": "A", "shares": "40000"},
    ],
}

_TOP_KEYS = {"start", "end", "asset_decimals", "events", "auto_crystallise"}
_EVENT_KEYS: dict[str, tuple[set[str], set[str]]] = {  # type -> (required, optional)
    "deposit": ({"at", "type", "depositor", "amount"}, set()),
    "return": ({"at", "type", "gross"}, set()),
    "crystallise": ({"at", "type"}, set()),
    "withdraw": ({"at", "type", "depositor"}, {"shares", "amount", "lot"}),
}
_INTEGER = re.compile(r"[0-9]+")
_SHARES = re.compile(r"[0-9]+(\.[0-9]{1,18})?")
_SIGNED_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


class ScenarioError(ValueError):
    """An invalid scenario. ``field`` is the JSON path of the offending value (``events[3].amount``)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class ScenarioEvent:
    index: int
    at: datetime
    type: EventType
    depositor: str = ""
    amount: int | None = None  # base units
    shares: Decimal | None = None
    gross: Decimal | None = None
    lot: int | None = None

    @property
    def label(self) -> str:
        return f"events[{self.index}] ({self.type})"


@dataclass(frozen=True)
class Scenario:
    start: datetime
    end: datetime
    asset_decimals: int
    auto_crystallise: bool
    events: tuple[ScenarioEvent, ...]


# -- parsing ----------------------------------------------------------------------------------------------------


def _datetime(value: object, path: str, label: str) -> datetime:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ScenarioError(f"{label}: {path} must be an ISO 8601 datetime string, got {value!r}", field=path)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ScenarioError(f"{label}: {path} is not an ISO 8601 datetime: {value!r}", field=path) from None
    try:
        return utc_aware(moment)
    except ValueError:
        raise ScenarioError(f"{label}: {path} needs a UTC offset (e.g. {value}Z): {value!r}", field=path) from None


def _base_units(value: object, path: str, label: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ScenarioError(f"{label}: {path} must be a string of base units, got {value!r}", field=path)
    if text.startswith("-"):
        raise ScenarioError(f"{label}: {path} must not be negative, got {text!r}", field=path)
    if len(text) > MAX_TEXT or not _INTEGER.fullmatch(text):
        raise ScenarioError(f"{label}: {path} must be a whole number of base units, got {text!r}", field=path)
    amount = int(text)
    if amount <= 0:
        raise ScenarioError(f"{label}: {path} must be positive, got {text!r}", field=path)
    return amount


def _shares(value: object, path: str, label: str) -> Decimal:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        raise ScenarioError(f"{label}: {path} must be a decimal string, got {value!r}", field=path)
    if text.startswith("-"):
        raise ScenarioError(f"{label}: {path} must not be negative, got {text!r}", field=path)
    if len(text) > MAX_TEXT or not _SHARES.fullmatch(text):
        raise ScenarioError(f"{label}: {path} must be a decimal with at most 18 places, got {text!r}", field=path)
    shares = Decimal(text)
    if shares <= 0:
        raise ScenarioError(f"{label}: {path} must be positive, got {text!r}", field=path)
    return shares


def _gross(value: object, path: str, label: str) -> Decimal:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or len(text) > MAX_TEXT or not _SIGNED_DECIMAL.fullmatch(text):
        raise ScenarioError(f'{label}: {path} must be a decimal string such as "0.20", got {value!r}', field=path)
    gross = Decimal(text)
    if gross <= -1:
        raise ScenarioError(f"{label}: {path} must be above -1 (a loss of 100% or more), got {text!r}", field=path)
    return gross


def _event(index: int, item: object) -> ScenarioEvent:
    path = f"events[{index}]"
    if not isinstance(item, dict):
        raise ScenarioError(f"{path}: an event must be an object, got {item!r}", field=path)
    kind = item.get("type")
    if kind not in _EVENT_KEYS:
        known = ", ".join(_EVENT_KEYS)
        raise ScenarioError(f"{path}: unknown event type {kind!r} (known: {known})", field=f"{path}.type")
    label = f"{path} ({kind})"
    required, optional = _EVENT_KEYS[kind]
    missing = sorted(required - item.keys())
    if missing:
        raise ScenarioError(f"{label}: missing {', '.join(missing)}", field=f"{path}.{missing[0]}")
    unknown = sorted(item.keys() - required - optional)
    if unknown:
        raise ScenarioError(f"{label}: unknown field {unknown[0]!r}", field=f"{path}.{unknown[0]}")
    at = _datetime(item["at"], f"{path}.at", label)
    fields: dict[str, Any] = {}
    if "depositor" in required:
        depositor = item["depositor"]
        if not isinstance(depositor, str) or not depositor.strip() or len(depositor) > MAX_TEXT:
            raise ScenarioError(
                f"{label}: depositor must be a non-empty name, got {depositor!r}", field=f"{path}.depositor"
            )
        fields["depositor"] = depositor
    if kind == "deposit":
        fields["amount"] = _base_units(item["amount"], f"{path}.amount", label)
    elif kind == "return":
        fields["gross"] = _gross(item["gross"], f"{path}.gross", label)
    elif kind == "withdraw":
        if ("shares" in item) == ("amount" in item):
            raise ScenarioError(f"{label}: give exactly one of shares or amount", field=f"{path}.shares")
        if "shares" in item:
            fields["shares"] = _shares(item["shares"], f"{path}.shares", label)
        else:
            fields["amount"] = _base_units(item["amount"], f"{path}.amount", label)
        if "lot" in item:
            lot = item["lot"]
            if isinstance(lot, bool) or not isinstance(lot, int) or lot < 1:
                raise ScenarioError(f"{label}: lot must be a lot number (1, 2, …), got {lot!r}", field=f"{path}.lot")
            fields["lot"] = lot
    return ScenarioEvent(index=index, at=at, type=kind, **fields)


def scenario_parse(data: object) -> Scenario:
    """Validate a scenario (the decoded JSON). Raises :class:`ScenarioError` naming the field or the event."""
    if not isinstance(data, dict):
        raise ScenarioError("the scenario must be a JSON object")
    unknown = sorted(data.keys() - _TOP_KEYS)
    if unknown:
        raise ScenarioError(f"unknown field {unknown[0]!r}", field=unknown[0])
    for key in ("start", "end", "asset_decimals", "events"):
        if key not in data:
            raise ScenarioError(f"missing {key}", field=key)
    start = _datetime(data["start"], "start", "scenario")
    end = _datetime(data["end"], "end", "scenario")
    if end < start:
        raise ScenarioError(f"scenario: end {data['end']} is before start {data['start']}", field="end")
    if end.year - start.year > MAX_YEARS:
        raise ScenarioError(f"scenario: at most {MAX_YEARS} years from start to end", field="end")
    decimals = data["asset_decimals"]
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 36:
        raise ScenarioError(f"asset_decimals must be an integer from 0 to 36, got {decimals!r}", field="asset_decimals")
    auto = data.get("auto_crystallise", True)
    if not isinstance(auto, bool):
        raise ScenarioError(f"auto_crystallise must be true or false, got {auto!r}", field="auto_crystallise")
    items = data["events"]
    if not isinstance(items, list):
        raise ScenarioError("events must be a list", field="events")
    if len(items) > MAX_EVENTS:
        raise ScenarioError(f"at most {MAX_EVENTS} events, got {len(items)}", field="events")
    events = tuple(_event(index, item) for index, item in enumerate(items))
    previous = start
    for event in events:
        if event.at < start or event.at > end:
            raise ScenarioError(
                f"{event.label}: at {event.at.isoformat()} is outside start..end", field=f"events[{event.index}].at"
            )
        if event.at < previous:
            raise ScenarioError(
                f"{event.label}: out of order, at {event.at.isoformat()} is before the previous event's "
                f"{previous.isoformat()}",
                field=f"events[{event.index}].at",
            )
        previous = event.at
    return Scenario(start=start, end=end, asset_decimals=decimals, auto_crystallise=auto, events=events)


# -- running ----------------------------------------------------------------------------------------------------


def year_ends(start: datetime, end: datetime) -> list[datetime]:
    """Calendar year ends (1 January 00:00 UTC) after ``start`` up to and including ``end``."""
    return [datetime(year, 1, 1, tzinfo=UTC) for year in range(start.year + 1, end.year + 1)]


def _event_apply(vault: Vault, event: ScenarioEvent) -> None:
    if event.type == "deposit":
        assert event.amount is not None
        vault.deposit(at=event.at, depositor=event.depositor, amount=event.amount)
    elif event.type == "return":
        assert event.gross is not None
        vault.apply_return(at=event.at, gross=event.gross)
    elif event.type == "crystallise":
        vault.crystallise(at=event.at, reason="requested")
    else:
        vault.withdraw(
            at=event.at, depositor=event.depositor, shares=event.shares, amount=event.amount, lot_id=event.lot
        )


def _error_field(event: ScenarioEvent, error: VaultError) -> str:
    path = f"events[{event.index}]"
    if isinstance(error, UnknownDepositorError):
        return f"{path}.depositor"
    if isinstance(error, InsufficientSharesError):
        return f"{path}.{'shares' if event.shares is not None else 'amount'}"
    return path


def scenario_run(scenario: Scenario) -> Vault:
    """Run the scenario; the vault settled at ``end``. A refused event raises :class:`ScenarioError` naming it."""
    vault = Vault(started_at=scenario.start)
    pending = year_ends(scenario.start, scenario.end) if scenario.auto_crystallise else []
    for event in scenario.events:
        while pending and pending[0] <= event.at:  # a year end comes before the events at its instant
            vault.crystallise(at=pending.pop(0), reason="year_end")
        try:
            _event_apply(vault, event)
        except VaultError as error:
            raise ScenarioError(f"{event.label}: {error}", field=_error_field(event, error)) from None
    for moment in pending:
        vault.crystallise(at=moment, reason="year_end")
    vault.settle(at=scenario.end)
    return vault


def scenario_result(vault: Vault) -> dict[str, Any]:
    """The result JSON (see the module docstring): every number an exact decimal string."""
    depositors: dict[str, dict[str, str]] = {}
    for name in vault.accounts:
        position = vault.position(name)
        depositors[name] = {
            "shares": shares_text(position.shares),
            "value": str(position.value),
            "net_value": str(position.net_value),
            "management_fee": decimal_text_trim_zeros(price_down(position.management_fee)),
            "performance_fee": decimal_text_trim_zeros(price_down(position.performance_fee)),
            "paid_out": str(position.paid_out),
        }
    return {
        "nav_per_share": decimal_text_trim_zeros(price_down(vault.price())),
        "management_fee_total": decimal_text_trim_zeros(price_down(vault.management_fee_total())),
        "performance_fee_total": decimal_text_trim_zeros(price_down(vault.performance_fee_total())),
        "depositors": depositors,
    }


def scenario_simulate(data: object) -> dict[str, Any]:
    """Parse, validate and run a scenario; its result JSON. Raises :class:`ScenarioError`."""
    return scenario_result(scenario_run(scenario_parse(data)))
