"""Every strategy the platform knows, by name: the families' strategies register themselves when imported, and
this module imports them all (pure: no Django)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import strategies.cex.core  # noqa: F401  (registers hold and leadlag)
from strategies.core.markets import Market
from strategies.core.params import ParamError, params_parse
from strategies.core.strategy import STRATEGIES, Strategy


def strategy_class(name: str) -> type[Strategy[Any]]:
    """The registered strategy ``name``; :class:`ParamError` names the known ones otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ParamError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None


def strategy_build(name: str, params: Mapping[str, object], markets: Sequence[Market]) -> Strategy[Any]:
    """A strategy instance from its name, raw parameters and markets; bad input raises :class:`ParamError`."""
    cls = strategy_class(name)
    return cls(params_parse(cls.Params, params), markets)
