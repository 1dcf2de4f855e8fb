"""Typed, validated strategy parameters: a frozen dataclass per strategy, parsed from text (``k=v`` on the command
line, JSON from the API) with a clear error for an unknown name or a bad value."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar


class ParamError(ValueError):
    """An unknown parameter, a value of the wrong type, or one outside its range."""


P = TypeVar("P")


def decimal_parse(value: object, *, what: str) -> Decimal:
    """An exact decimal from text, an int or a Decimal; :class:`ParamError` (a ``ValueError``) naming ``what`` for a
    float (not exact), text that is not a number, or an infinite or NaN value."""
    if isinstance(value, float):
        raise ParamError(f"{what}: give decimals as text, not a float ({value!r})")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ParamError(f"{what}: {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ParamError(f"{what}: {value!r} is not finite")
    return number


def _convert(name: str, kind: Any, value: object) -> object:
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None or value == "":
            return None
        return _convert(name, options[0], value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ParamError(f"parameter {name!r}: {value!r} is not a boolean (true or false)")
    if kind is int:
        if isinstance(value, (bool, float)):
            raise ParamError(f"parameter {name!r}: {value!r} is not an integer")
        try:
            return int(str(value).strip())
        except ValueError:
            raise ParamError(f"parameter {name!r}: {value!r} is not an integer") from None
    if kind is Decimal:
        return decimal_parse(value, what=f"parameter {name!r}")
    if kind is str:
        return str(value).strip()
    raise ParamError(f"parameter {name!r}: unsupported type {kind!r}")


def params_parse(cls: type[P], values: Mapping[str, object]) -> P:
    """Build ``cls`` (a dataclass) from ``values``; names not in it, or values that do not convert, raise
    :class:`ParamError`. The dataclass's ``__post_init__`` checks ranges and raises :class:`ParamError`."""
    assert dataclasses.is_dataclass(cls)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ParamError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(fields)) or 'none'}")
    kwargs = {name: _convert(name, hints[name], value) for name, value in values.items()}
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ParamError(str(error)) from None


def params_json(params: object) -> dict[str, Any]:
    """Parameters as JSON: decimals as strings, the rest as they are."""
    assert dataclasses.is_dataclass(params) and not isinstance(params, type)
    return {
        f.name: (str(v) if isinstance(v := getattr(params, f.name), Decimal) else v) for f in dataclasses.fields(params)
    }


def params_describe(cls: type[Any]) -> list[dict[str, Any]]:
    """Each parameter's name, type, default and help (``field(metadata={"help": ...})``), for pages and the API."""
    hints = typing.get_type_hints(cls)
    described = []
    for f in dataclasses.fields(cls):
        default: Any = None if f.default is dataclasses.MISSING else f.default
        described.append(
            {
                "name": f.name,
                "type": getattr(hints[f.name], "__name__", str(hints[f.name])),
                "default": str(default) if isinstance(default, Decimal) else default,
                "required": f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                "help": f.metadata.get("help", ""),
            }
        )
    return described
