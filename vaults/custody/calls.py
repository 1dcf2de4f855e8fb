"""Call data the custody policy must recognise: ERC-20 transfers and the Safe's own owner/threshold/module/guard
management functions. Pure; amounts are integers in the token's base units.
"""

from __future__ import annotations

from dataclasses import dataclass

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
