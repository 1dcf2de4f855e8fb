"""Call data the custody policy must recognise: ERC-20 transfers, the Safe's own owner/threshold/module/guard
management functions, and the protocol calls of strategy trades and unwinds (decoded with the ABI fragments in
``abi/contract_calls.json``). Pure; amounts are integers in the token's base units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak


def function_selector(signature: str) -> bytes:
    """The 4-byte selector of a canonical Solidity signature such as ``transfer(address,uint256)``."""
    return keccak(text=signature)[:4]


ERC20_TRANSFER = function_selector("transfer(address,uint256)")  # 0xa9059cbb
ERC20_APPROVE = function_selector("approve(address,uint256)")

# Functions of Safe v1.4.1 (OwnerManager, ModuleManager, GuardManager, FallbackManager) that change who controls it.
SAFE_CONTROL_FUNCTIONS: dict[bytes, str] = {
    function_selector(signature): signature
    for signature in (
        "addOwnerWithThreshold(address,uint256)",
        "removeOwner(address,address,uint256)",
        "swapOwner(address,address,address)",
        "changeThreshold(uint256)",
        "enableModule(address)",
        "disableModule(address,address)",
        "setGuard(address)",
        "setFallbackHandler(address)",
    )
}


# Their parameter names in the Safe's source, to show a control change in words.
SAFE_CONTROL_PARAMETERS: dict[str, tuple[str, ...]] = {
    "addOwnerWithThreshold(address,uint256)": ("owner", "_threshold"),
    "removeOwner(address,address,uint256)": ("prevOwner", "owner", "_threshold"),
    "swapOwner(address,address,address)": ("prevOwner", "oldOwner", "newOwner"),
    "changeThreshold(uint256)": ("_threshold",),
    "enableModule(address)": ("module",),
    "disableModule(address,address)": ("prevModule", "module"),
    "setGuard(address)": ("guard",),
    "setFallbackHandler(address)": ("handler",),
}


@dataclass(frozen=True)
class SafeControlCall:
    """A decoded Safe control call: ``function`` its name (``changeThreshold``), ``arguments`` its parameters in
    order as ``(name, value)``, addresses checksummed and integers as decimal text."""

    function: str
    arguments: tuple[tuple[str, str], ...]


def safe_control_call_decode(data: bytes) -> SafeControlCall | None:
    """The owner/threshold/module/guard/fallback-handler call encoded by ``data``, or None when ``data`` is not
    exactly one of :data:`SAFE_CONTROL_FUNCTIONS` with well-formed arguments."""
    signature = SAFE_CONTROL_FUNCTIONS.get(bytes(data[:4]))
    if signature is None:
        return None
    types = signature[signature.index("(") + 1 : -1].split(",")
    if len(data) != 4 + 32 * len(types):
        return None
    try:
        values = abi_decode(types, data[4:], strict=True)
    except DecodingError:
        return None
    names = SAFE_CONTROL_PARAMETERS[signature]
    shown = tuple(
        (name, to_checksum_address(value) if kind == "address" else str(int(value)))
        for name, kind, value in zip(names, types, values, strict=True)
    )
    return SafeControlCall(function=signature[: signature.index("(")], arguments=shown)


@dataclass(frozen=True)
class Erc20Transfer:
    """A decoded ``transfer(recipient, amount)``; ``amount`` in the token's base units."""

    recipient: str
    amount: int


def erc20_transfer_data(recipient: str, amount: int) -> bytes:
    """Call data for ``transfer(recipient, amount)`` (amount in base units)."""
    return ERC20_TRANSFER + abi_encode(["address", "uint256"], [recipient, amount])


def erc20_transfer_decode(data: bytes) -> Erc20Transfer | None:
    """The transfer encoded by ``data``, or None when ``data`` is not exactly a ``transfer(address,uint256)`` call."""
    # Exactly 4 + 64 bytes: trailing bytes would be ignored by the token but could hide a second meaning.
    if len(data) != 68 or data[:4] != ERC20_TRANSFER:
        return None
    try:
        recipient, amount = abi_decode(["address", "uint256"], data[4:], strict=True)
    except DecodingError:
        return None
    return Erc20Transfer(recipient=to_checksum_address(recipient), amount=int(amount))


# -- contract calls a vault Safe may make under its contract-call policy (vaults.custody.call_policy) -------------

CONTRACT_ABI_PATH = Path(__file__).with_name("abi") / "contract_calls.json"
UINT256_MAX = 2**256 - 1

Argument = str | int | tuple[str, ...]


@dataclass(frozen=True)
class ContractFunction:
    """One function of a protocol's ABI fragments: its name, canonical signature, selector and the ABI types of its
    top-level parameters (a struct as ``(t1,t2,...)``), with the flattened names of the values they decode to."""

    protocol: str
    name: str
    signature: str
    selector: bytes
    types: tuple[str, ...]
    parameters: tuple[tuple[str, ...], ...]  # per top-level parameter: its name, or its struct's ``name.field`` names


def _abi_type(parameter: dict[str, Any]) -> str:
    kind = str(parameter["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(component) for component in parameter["components"])
        return f"({inner}){kind.removeprefix('tuple')}"
    return kind


def _parameter_names(parameter: dict[str, Any]) -> tuple[str, ...]:
    if parameter["type"] == "tuple":
        return tuple(f"{parameter['name']}.{component['name']}" for component in parameter["components"])
    return (str(parameter["name"]),)


def _contract_functions() -> dict[str, dict[bytes, ContractFunction]]:
    fragments = json.loads(CONTRACT_ABI_PATH.read_text(encoding="utf-8"))
    protocols: dict[str, dict[bytes, ContractFunction]] = {}
    for protocol, functions in fragments.items():
        if protocol.startswith("_"):
            continue
        protocols[protocol] = {}
        for fragment in functions:
            types = tuple(_abi_type(parameter) for parameter in fragment["inputs"])
            signature = f"{fragment['name']}({','.join(types)})"
            function = ContractFunction(
                protocol=protocol,
                name=str(fragment["name"]),
                signature=signature,
                selector=function_selector(signature),
                types=types,
                parameters=tuple(_parameter_names(parameter) for parameter in fragment["inputs"]),
            )
            protocols[protocol][function.selector] = function
    return protocols


# protocol -> selector -> function, read once from the ABI fragments
CONTRACT_FUNCTIONS: dict[str, dict[bytes, ContractFunction]] = _contract_functions()


@dataclass(frozen=True)
class ContractCall:
    """Call data decoded with a protocol's ABI fragments. ``arguments`` maps each parameter's name (a struct's
    fields as ``params.tokenIn``) to its value: addresses EIP-55 checksummed, integers as ``int`` (token base
    units), an address array as a tuple of addresses."""

    function: ContractFunction
    arguments: dict[str, Argument]


def _argument_value(kind: str, value: Any) -> Argument:
    if kind == "address":
        return str(to_checksum_address(value))
    if kind == "address[]":
        return tuple(str(to_checksum_address(item)) for item in value)
    if kind.startswith(("uint", "int")):
        return int(value)
    raise ValueError(f"no policy argument of ABI type {kind}")  # the fragments hold no other type


def contract_call_decode(protocol: str, data: bytes) -> ContractCall | None:
    """``data`` decoded as a call of one of ``protocol``'s functions, or None when its selector is none of them or
    its arguments are not exactly their canonical ABI encoding (trailing bytes, odd offsets, dirty padding: data
    the contract would read one way and a checker another)."""
    function = CONTRACT_FUNCTIONS.get(protocol, {}).get(bytes(data[:4]))
    if function is None:
        return None
    try:
        values = abi_decode(list(function.types), data[4:], strict=True)
    except (DecodingError, OverflowError):
        return None
    if abi_encode(list(function.types), values) != bytes(data[4:]):
        return None
    arguments: dict[str, Argument] = {}
    for kind, names, value in zip(function.types, function.parameters, values, strict=True):
        if kind.startswith("("):
            fields = kind[1:-1].split(",")
            for name, field_kind, item in zip(names, fields, value, strict=True):
                arguments[name] = _argument_value(field_kind, item)
        else:
            arguments[names[0]] = _argument_value(kind, value)
    return ContractCall(function=function, arguments=arguments)


def contract_call_data(protocol: str, name: str, *arguments: Any) -> bytes:
    """Call data for ``protocol``'s function ``name`` with ``arguments`` in ABI order (a struct as a tuple)."""
    for function in CONTRACT_FUNCTIONS[protocol].values():
        if function.name == name:
            return function.selector + abi_encode(list(function.types), list(arguments))
    raise KeyError(f"{protocol} has no function {name}")


def safe_call_describe(*, safe: str, to: str, value: int, data: bytes, operation: int) -> str:
    """What a Safe transaction does, in one line an owner reads before signing: the decoded ERC-20 transfer or Safe
    control call (``transfer(recipient=0x…, amount=250000000) on 0xToken``), otherwise the raw selector and length;
    any ether sent and a DELEGATECALL are spelled out, since either hands over more than a token transfer does."""
    transfer = erc20_transfer_decode(data)
    control = safe_control_call_decode(data) if to == safe else None
    if transfer is not None:
        text = f"transfer(recipient={transfer.recipient}, amount={transfer.amount}) on {to}"
    elif control is not None:
        arguments = ", ".join(f"{name}={shown}" for name, shown in control.arguments)
        text = f"{control.function}({arguments}) on the Safe itself"
    elif not data:
        text = f"no call data, to {to}"
    else:
        text = f"an unrecognised call (selector 0x{bytes(data[:4]).hex()}, {len(data)} bytes of data) to {to}"
    if value:
        text += f", sending {value} wei of ether"
    if operation != 0:
        text += ", as a DELEGATECALL (the target's code runs with the Safe's storage and funds)"
    return text
