"""The contract-call policy of a vault Safe: what a strategy trade or an emergency unwind may call, stated as
conditions on the decoded arguments, plus per-period allowances and a cumulative value-loss tolerance.

Pure (no Django, no RPC). Amounts are integers in each token's base units; prices are ``Decimal`` values of one
whole token in the vault's base asset; values and losses are integers in the vault asset's base units.

Every call the Safe may make is a declared :class:`CallShape` (:data:`CALL_SHAPES`): a function of one protocol's
ABI fragments (``abi/contract_calls.json``) with

- the arguments that must be the Safe itself (a swap's ``to`` / ``recipient``, Aave's ``onBehalfOf`` / ``to``):
  a whitelisted router called with ``to = attacker`` is refused;
- the arguments that must be allowlisted tokens (every hop of a swap path, Aave's ``asset``);
- the amounts that count against the token's allowance per period (what a swap sells, what is supplied, borrowed
  or repaid; a withdrawal into the Safe counts against nothing);
- for a swap, the minimum output, which must be at least what the marked prices and the policy's maximum slippage
  give for the input, and which fixes the call's worst-case value loss;
- for ``approve``, a spender that is a contract the policy lets the Safe call, and a bounded amount (never
  unlimited, at most the token's allowance per period).

An allowlisted token may be called with the ERC-20 shapes (``transfer`` only to the Safe itself, ``approve`` as
above). A contract the policy names is called as one protocol, with the functions it grants. An emergency unwind
uses its own contract grants and only the shapes that bring positions home (``withdraw``, ``repay``, ``approve``,
swaps whose output is the vault's base asset), never ``supply`` or ``borrow``.

The value-loss tolerance follows Enzyme's cumulative slippage tolerance policy: over the policy's period (a rolling
window ending now) the sum of every co-signed call's value out minus value in, at marked prices, must stay within
the vault's tolerance. A swap's value in is its guaranteed minimum output (the co-signer signs before execution,
so the worst case the call allows is what it may lose); gains are not netted against losses. A token without a
mark, or with one older than the policy's ``mark_max_age``, is refused: a price is never assumed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from vaults.custody.calls import CONTRACT_FUNCTIONS, UINT256_MAX, Argument, ContractCall, contract_call_decode
from vaults.custody.safe_tx import SafeTxError, address_normalise


@dataclass(frozen=True)
class Reason:
    """One unmet requirement: a stable ``code`` and a message in words."""

    code: str
    message: str


class Protocol(StrEnum):
    """The protocols whose ABI fragments are in ``abi/contract_calls.json``."""

    ERC20 = "erc20"
    UNISWAP_V2_ROUTER = "uniswap_v2_router"
    UNISWAP_V3_ROUTER = "uniswap_v3_router"
    AAVE_V3_POOL = "aave_v3_pool"


@dataclass(frozen=True)
class SwapTerms:
    """Which arguments of a swap name what it sells and buys (``path[0]``, ``path[-1]``: the ends of a path)."""

    token_in: str
    amount_in: str
    token_out: str
    amount_out_min: str


@dataclass(frozen=True)
class CallShape:
    """A declared call: ``protocol``'s function ``function`` and the conditions on its decoded arguments."""

    protocol: Protocol
    function: str
    safe_arguments: tuple[str, ...] = ()
    token_arguments: tuple[str, ...] = ()
    spends: tuple[tuple[str, str], ...] = ()  # (token argument, amount argument) counted against the allowance
    swap: SwapTerms | None = None
    spender: str | None = None  # approve: this argument must be a contract the policy grants
    unwind: bool = False  # allowed in an emergency unwind

    @property
    def selector(self) -> bytes:
        for selector, function in CONTRACT_FUNCTIONS[self.protocol.value].items():
            if function.name == self.function:
                return selector
        raise KeyError(f"{self.protocol} has no function {self.function}")  # pragma: no cover (checked at import)


CALL_SHAPES: tuple[CallShape, ...] = (
    CallShape(Protocol.ERC20, "transfer", safe_arguments=("to",), unwind=True),
    CallShape(Protocol.ERC20, "approve", spender="spender", unwind=True),
    CallShape(
        Protocol.UNISWAP_V2_ROUTER,
        "swapExactTokensForTokens",
        safe_arguments=("to",),
        token_arguments=("path",),
        spends=(("path[0]", "amountIn"),),
        swap=SwapTerms("path[0]", "amountIn", "path[-1]", "amountOutMin"),
        unwind=True,
    ),
    CallShape(
        Protocol.UNISWAP_V3_ROUTER,
        "exactInputSingle",
        safe_arguments=("params.recipient",),
        token_arguments=("params.tokenIn", "params.tokenOut"),
        spends=(("params.tokenIn", "params.amountIn"),),
        swap=SwapTerms("params.tokenIn", "params.amountIn", "params.tokenOut", "params.amountOutMinimum"),
        unwind=True,
    ),
    CallShape(
        Protocol.AAVE_V3_POOL,
        "supply",
        safe_arguments=("onBehalfOf",),
        token_arguments=("asset",),
        spends=(("asset", "amount"),),
    ),
    CallShape(Protocol.AAVE_V3_POOL, "withdraw", safe_arguments=("to",), token_arguments=("asset",), unwind=True),
    CallShape(
        Protocol.AAVE_V3_POOL,
        "borrow",
        safe_arguments=("onBehalfOf",),
        token_arguments=("asset",),
        spends=(("asset", "amount"),),
    ),
    CallShape(
        Protocol.AAVE_V3_POOL,
        "repay",
        safe_arguments=("onBehalfOf",),
        token_arguments=("asset",),
        spends=(("asset", "amount"),),
        unwind=True,
    ),
)
SHAPES: dict[tuple[Protocol, bytes], CallShape] = {(shape.protocol, shape.selector): shape for shape in CALL_SHAPES}


@dataclass(frozen=True)
class ContractGrant:
    """A contract the Safe may call as ``protocol``, with the names of the functions granted."""

    protocol: Protocol
    functions: frozenset[str]


@dataclass(frozen=True)
class CallPolicy:
    """A vault's contract-call policy.

    ``tokens`` maps each allowlisted token to its allowance per period (base units); ``trade_contracts`` and
    ``unwind_contracts`` map the contracts each kind may call to their grants; ``max_slippage`` is a fraction
    (``0.005``: 0.5 %); ``value_loss_tolerance`` is in the vault asset's base units, per ``period``.
    """

    tokens: Mapping[str, int]
    trade_contracts: Mapping[str, ContractGrant]
    unwind_contracts: Mapping[str, ContractGrant]
    period: timedelta
    max_slippage: Decimal
    value_loss_tolerance: int
    mark_max_age: timedelta


class CallPolicyError(ValueError):
    """A contract-call policy configuration that cannot be used; the message says which entry."""


def _address(value: Any, what: str) -> str:
    try:
        return address_normalise(str(value), field=what)
    except SafeTxError as error:
        raise CallPolicyError(str(error)) from None


def _base_units(value: Any, what: str) -> int:
    try:
        units = int(str(value))
    except ValueError:
        raise CallPolicyError(f"{what} must be an integer of base units, got {value!r}") from None
    if not 0 <= units <= UINT256_MAX:
        raise CallPolicyError(f"{what} must be in [0, 2**256 - 1], got {units}")
    return units


def _grants(config: Mapping[str, Any], what: str) -> dict[str, ContractGrant]:
    grants: dict[str, ContractGrant] = {}
    for contract, grant in config.items():
        address = _address(contract, what)
        try:
            protocol = Protocol(grant["protocol"])
        except (KeyError, TypeError, ValueError):
            raise CallPolicyError(f"{what} {address}: protocol must be one of {[p.value for p in Protocol]}") from None
        if protocol is Protocol.ERC20:
            raise CallPolicyError(f"{what} {address}: tokens are allowlisted under tokens, not granted as contracts")
        known = {shape.function for shape in CALL_SHAPES if shape.protocol is protocol}
        functions = frozenset(str(name) for name in grant.get("functions", ()))
        if not functions or not functions <= known:
            raise CallPolicyError(f"{what} {address}: functions must be a non-empty subset of {sorted(known)}")
        grants[address] = ContractGrant(protocol=protocol, functions=functions)
    return grants


def call_policy_from_config(
    *,
    tokens: Mapping[str, Any],
    trade_contracts: Mapping[str, Any],
    unwind_contracts: Mapping[str, Any],
    period: timedelta,
    max_slippage: Decimal,
    value_loss_tolerance: int,
    mark_max_age: timedelta,
) -> CallPolicy:
    """A :class:`CallPolicy` from its stored form: ``tokens`` ``{address: allowance}`` (base units, decimal text
    or int), contracts ``{address: {"protocol": ..., "functions": [...]}}``. Raises :class:`CallPolicyError`."""
    if period <= timedelta(0) or mark_max_age <= timedelta(0):
        raise CallPolicyError("period and mark_max_age must be positive")
    if not max_slippage.is_finite() or not Decimal(0) <= max_slippage < Decimal(1):
        raise CallPolicyError(f"max_slippage must be a fraction in [0, 1), got {max_slippage}")
    return CallPolicy(
        tokens={
            _address(token, "token"): _base_units(limit, f"allowance of {token}") for token, limit in tokens.items()
        },
        trade_contracts=_grants(trade_contracts, "trade contract"),
        unwind_contracts=_grants(unwind_contracts, "unwind contract"),
        period=period,
        max_slippage=max_slippage,
        value_loss_tolerance=_base_units(value_loss_tolerance, "value_loss_tolerance"),
        mark_max_age=mark_max_age,
    )


@dataclass(frozen=True)
class TokenMark:
    """A token's marked price: ``price`` the vault base asset's value of one whole token, ``decimals`` the token's,
    ``at`` when it was marked."""

    price: Decimal
    decimals: int
    at: datetime


@dataclass(frozen=True)
class CallUsage:
    """What co-signed calls have used of the policy: ``spent`` per token (base units, against the allowance) and
    ``value_loss`` (vault asset base units, against the tolerance). For one call, or summed over a period."""

    spent: Mapping[str, int] = field(default_factory=dict)
    value_loss: int = 0


@dataclass(frozen=True)
class CallCheck:
    """The contract-call policy's answer for one call: every unmet requirement, and what the call uses."""

    reasons: tuple[Reason, ...]
    usage: CallUsage


def _resolve(arguments: Mapping[str, Argument], name: str) -> Argument:
    base, _, index = name.partition("[")
    value = arguments[base]
    if not index:
        return value
    assert isinstance(value, tuple)
    return value[int(index.rstrip("]"))]


def _addresses(value: Argument) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return value
    assert isinstance(value, str)
    return (value,)


def _value(amount: int, mark: TokenMark, asset_decimals: int) -> Fraction:
    """``amount`` base units of a token in the vault asset's base units, exactly."""
    return amount * Fraction(mark.price) * Fraction(10) ** (asset_decimals - mark.decimals)


@dataclass
class _Call:
    """The facts a call is checked against, and what is found."""

    safe: str
    asset: str
    now: datetime
    unwind: bool
    policy: CallPolicy
    used: CallUsage
    marks: Mapping[str, TokenMark]
    reasons: list[Reason] = field(default_factory=list)

    def refuse(self, code: str, message: str) -> None:
        self.reasons.append(Reason(code, message))

    def mark(self, token: str) -> TokenMark | None:
        mark = self.marks.get(token)
        if mark is None:
            self.refuse("price_missing", f"{token} has no marked price: the call's value cannot be checked")
            return None
        if mark.price <= 0 or not mark.price.is_finite():
            self.refuse("price_missing", f"{token}'s marked price {mark.price} is not a usable price")
            return None
        if self.now - mark.at > self.policy.mark_max_age:
            self.refuse(
                "price_stale",
                f"{token}'s marked price is from {mark.at.isoformat()}, older than {self.policy.mark_max_age}",
            )
            return None
        return mark


def _swap_check(call: _Call, terms: SwapTerms, arguments: Mapping[str, Argument]) -> int:
    """The minimum-output condition of a swap; returns its worst-case value loss (asset base units)."""
    token_in, token_out = _resolve(arguments, terms.token_in), _resolve(arguments, terms.token_out)
    amount_in, amount_out_min = _resolve(arguments, terms.amount_in), _resolve(arguments, terms.amount_out_min)
    assert isinstance(token_in, str) and isinstance(token_out, str)
    assert isinstance(amount_in, int) and isinstance(amount_out_min, int)
    if call.unwind and token_out != call.asset:
        call.refuse("unwind_not_to_base_asset", f"an unwind swaps into the vault asset {call.asset}, not {token_out}")
    asset_mark, mark_in, mark_out = call.mark(call.asset), call.mark(token_in), call.mark(token_out)
    if asset_mark is None or mark_in is None or mark_out is None:
        return 0
    decimals = asset_mark.decimals
    value_out = _value(amount_in, mark_in, decimals)
    out_unit = _value(1, mark_out, decimals)
    required = math.ceil(value_out * (1 - Fraction(call.policy.max_slippage)) / out_unit)
    if amount_out_min < required:
        call.refuse(
            "output_below_minimum",
            f"{terms.amount_out_min} is {amount_out_min}; at the marked prices and the maximum slippage "
            f"{call.policy.max_slippage} selling {amount_in} of {token_in} must return at least {required} of "
            f"{token_out}",
        )
    return max(0, math.ceil(value_out) - math.floor(_value(amount_out_min, mark_out, decimals)))


def call_policy_check(
    *,
    safe: str,
    asset: str,
    to: str,
    data: bytes,
    unwind: bool,
    policy: CallPolicy | None,
    used: CallUsage,
    marks: Mapping[str, TokenMark],
    now: datetime,
) -> CallCheck:
    """Check a call of ``to`` with ``data`` from ``safe`` (a trade, or an emergency unwind when ``unwind``) against
    ``policy``, given what co-signed calls have ``used`` of it in the current period and the tokens' ``marks``.

    Lists every unmet requirement; the returned usage (the call's spends and worst-case value loss) is what the
    co-signer records when it signs.
    """
    none = CallUsage()
    what = "unwind" if unwind else "trading"
    if policy is None:
        return CallCheck(
            (Reason("call_policy_missing", "the vault has no contract-call policy: it signs no trade and no unwind"),),
            none,
        )
    safe, asset, to = address_normalise(safe), address_normalise(asset), address_normalise(to)
    call = _Call(safe=safe, asset=asset, now=now, unwind=unwind, policy=policy, used=used, marks=marks)
    grants = policy.unwind_contracts if unwind else policy.trade_contracts
    if to in policy.tokens:
        protocol, granted = Protocol.ERC20, frozenset({"transfer", "approve"})
    elif to in grants:
        protocol, granted = grants[to].protocol, grants[to].functions
    else:
        return CallCheck((Reason("contract_not_whitelisted", f"{to} is not a whitelisted {what} contract"),), none)
    shape = SHAPES.get((protocol, bytes(data[:4])))
    if shape is None or shape.function not in granted or (unwind and not shape.unwind):
        shown = "0x" + bytes(data[:4]).hex() if len(data) >= 4 else "no function"
        name = shown if shape is None else shape.function
        return CallCheck(
            (Reason("selector_not_whitelisted", f"{name} is not a whitelisted {what} function of {to}"),), none
        )
    decoded: ContractCall | None = contract_call_decode(protocol.value, data)
    if decoded is None:
        return CallCheck(
            (Reason("call_malformed", f"the call data is not exactly a {shape.function} call of {protocol}"),), none
        )
    arguments = decoded.arguments
    for name in shape.safe_arguments:
        value = _resolve(arguments, name)
        if value != safe:
            call.refuse("recipient_not_safe", f"{shape.function}: {name} is {value}; it must be the Safe {safe}")
    for name in shape.token_arguments:
        value = arguments[name]
        if isinstance(value, tuple) and len(value) < 2:
            call.refuse("path_invalid", f"{shape.function}: {name} must name at least two tokens")
        for token in _addresses(value):
            if token not in policy.tokens:
                call.refuse("token_not_allowed", f"{shape.function}: {name} holds {token}, not an allowlisted token")
    if call.reasons:  # arguments outside the allowlists: amounts and values of unknown tokens are not checked
        return CallCheck(tuple(call.reasons), none)
    spent: dict[str, int] = {}
    if shape.spender is not None:
        _approve_check(call, to, _resolve(arguments, shape.spender), arguments["amount"], grants)
    for token_name, amount_name in shape.spends:
        spent_token, spent_amount = _resolve(arguments, token_name), _resolve(arguments, amount_name)
        assert isinstance(spent_token, str) and isinstance(spent_amount, int)
        spent[spent_token] = spent.get(spent_token, 0) + spent_amount
    for token, amount in spent.items():
        allowance, before = policy.tokens[token], used.spent.get(token, 0)
        if before + amount > allowance:
            call.refuse(
                "allowance_exceeded",
                f"{shape.function} uses {amount} of {token}; with {before} already used in the last {policy.period} "
                f"that exceeds its allowance of {allowance} per period",
            )
    loss = 0 if shape.swap is None else _swap_check(call, shape.swap, arguments)
    if used.value_loss + loss > policy.value_loss_tolerance:
        call.refuse(
            "value_loss_tolerance",
            f"{shape.function} may lose {loss} (base units of the vault asset, at marked prices); with "
            f"{used.value_loss} lost in the last {policy.period} that exceeds the vault's tolerance of "
            f"{policy.value_loss_tolerance}",
        )
    if call.reasons:
        return CallCheck(tuple(call.reasons), none)
    return CallCheck((), CallUsage(spent=spent, value_loss=loss))


def _approve_check(call: _Call, token: str, spender: Argument, amount: Argument, grants: Mapping[str, Any]) -> None:
    assert isinstance(spender, str) and isinstance(amount, int)
    if spender not in grants:
        call.refuse("spender_not_allowed", f"approve: {spender} is not a contract this policy lets the Safe call")
    if amount == UINT256_MAX:
        call.refuse("approve_unlimited", f"approve: an unlimited allowance of {token} is never signed")
    elif amount > call.policy.tokens[token]:
        call.refuse(
            "approve_above_allowance",
            f"approve: {amount} of {token} exceeds its allowance of {call.policy.tokens[token]} per period",
        )


def call_shapes_markdown() -> str:
    """The declared call shapes as Markdown, for the README."""
    lines = [
        "| call | must be the Safe | allowlisted tokens | counts against the allowance | also |",
        "|---|---|---|---|---|",
    ]
    for shape in CALL_SHAPES:
        also = []
        if shape.swap is not None:
            also.append(f"`{shape.swap.amount_out_min}` ≥ the marked-price minimum; its worst-case loss counts")
        if shape.spender is not None:
            also.append("spender a granted contract; amount ≤ the token's allowance, never unlimited")
        if shape.protocol is Protocol.ERC20:
            also.append("on an allowlisted token")
        also.append("unwind too" if shape.unwind else "trades only")
        spends = ", ".join(f"`{amount}` of `{token}`" for token, amount in shape.spends) or "—"
        lines.append(
            f"| {shape.protocol.value} `{shape.function}` | {', '.join(f'`{a}`' for a in shape.safe_arguments) or '—'} "
            f"| {', '.join(f'`{a}`' for a in shape.token_arguments) or '—'} | {spends} | {'; '.join(also)} |"
        )
    return "\n".join(lines) + "\n"
