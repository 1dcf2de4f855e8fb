"""Strategy parameters from text and JSON: exact types, clear errors for unknown names and bad values."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from strategies.core.params import ParamError, params_describe, params_json, params_parse


@dataclass(frozen=True)
class ExampleParams:
    count: int = 3
    rate: Decimal = Decimal("0.5")
    flag: bool = False
    venue: str = ""
    limit: Decimal | None = None
    required_text: str = field(default="x", metadata={"help": "some text"})

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ParamError("count must not be negative")


@dataclass(frozen=True)
class RequiredParams:
    needed: int


def test_text_values_become_int_decimal_bool_and_str() -> None:
    params = params_parse(
        ExampleParams, {"count": " 12 ", "rate": "0.0015", "flag": "yes", "venue": " bybit ", "limit": "1E+2"}
    )
    assert params == ExampleParams(count=12, rate=Decimal("0.0015"), flag=True, venue="bybit", limit=Decimal(100))
    assert type(params.count) is int
    assert type(params.rate) is Decimal
    assert str(params.rate) == "0.0015"


def test_defaults_stay_when_not_given() -> None:
    assert params_parse(ExampleParams, {}) == ExampleParams()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("1", True), ("on", True), ("TRUE", True), ("false", False), ("0", False), ("off", False)],
)
def test_booleans_from_text(text: str, expected: bool) -> None:
    assert params_parse(ExampleParams, {"flag": text}).flag is expected


def test_json_values_of_the_right_type_pass() -> None:
    params = params_parse(ExampleParams, {"count": 4, "rate": 2, "flag": True, "limit": None})
    assert (params.count, params.rate, params.flag, params.limit) == (4, Decimal(2), True, None)


def test_empty_text_for_an_optional_is_none() -> None:
    assert params_parse(ExampleParams, {"limit": ""}).limit is None


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ParamError) as error:
        params_parse(ExampleParams, {"count": "1", "colour": "red", "bogus": "1"})
    assert str(error.value) == (
        "unknown parameter(s) bogus, colour; known: count, flag, limit, rate, required_text, venue"
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("count", "1.5", "'count': '1.5' is not an integer"),
        ("count", "ten", "'count': 'ten' is not an integer"),
        ("count", 2.0, "'count': 2.0 is not an integer"),
        ("count", True, "'count': True is not an integer"),
        ("rate", "abc", "'rate': 'abc' is not a decimal number"),
        ("rate", "NaN", "'rate': 'NaN' is not finite"),
        ("rate", "Infinity", "'rate': 'Infinity' is not finite"),
        ("flag", "maybe", "'flag': 'maybe' is not a boolean"),
    ],
)
def test_bad_values_are_refused(name: str, value: object, message: str) -> None:
    with pytest.raises(ParamError, match=message.replace("(", r"\(").replace(")", r"\)")):
        params_parse(ExampleParams, {name: value})


def test_floats_are_refused_for_decimals() -> None:
    with pytest.raises(ParamError, match="give decimals as text, not a float"):
        params_parse(ExampleParams, {"rate": 0.1})


def test_range_checks_of_the_dataclass_raise_param_error() -> None:
    with pytest.raises(ParamError, match="count must not be negative"):
        params_parse(ExampleParams, {"count": "-1"})


def test_a_missing_required_parameter_is_a_param_error() -> None:
    with pytest.raises(ParamError, match="needed"):
        params_parse(RequiredParams, {})


def test_json_writes_decimals_as_text() -> None:
    params = params_parse(ExampleParams, {"rate": "0.00010", "count": "2"})
    assert params_json(params) == {
        "count": 2,
        "rate": "0.00010",
        "flag": False,
        "venue": "",
        "limit": None,
        "required_text": "x",
    }


def test_describe_lists_each_parameter() -> None:
    described = {d["name"]: d for d in params_describe(ExampleParams)}
    assert described["rate"] == {"name": "rate", "type": "Decimal", "default": "0.5", "required": False, "help": ""}
    assert described["required_text"]["help"] == "some text"
    assert params_describe(RequiredParams)[0]["required"] is True
