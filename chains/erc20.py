"""ERC-20 balances read on chain: ``balanceOf(holder)`` and ``decimals()`` at one block, with the block's number
and hash, so a valuation can say exactly what it read and where.

Amounts are the contract's integers (base units); converting them to asset units is the caller's (exact Decimal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.types import BlockIdentifier

from chains.addresses import address_normalise

# Only the two views a valuation calls.
ERC20_READ_ABI: list[dict[str, Any]] = [
    {
        "name": "balanceOf",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "name": "decimals",
        "type": "function",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint8"}],
    },
]


@dataclass(frozen=True)
class TokenBalance:
    """``raw`` base units of ``token`` held by ``holder`` at block ``block_number`` (``block_hash``), with the
    token's ``decimals`` read at the same block."""

    chain_id: int
    token: str
    holder: str
    block_number: int
    block_hash: str
    raw: int
    decimals: int


def token_balance_read(
    w3: Web3, *, chain_id: int, token: str, holder: str, block: BlockIdentifier = "latest"
) -> TokenBalance:
    """Read ``holder``'s balance of ``token`` and the token's decimals at ``block`` (a number or ``latest``). The
    block is resolved first and both calls are made at its number, so they see the same state. Raises whatever
    web3 raises when the node is unreachable or the contract does not answer; the caller decides what that means."""
    token = address_normalise(token, field="token")
    holder = address_normalise(holder, field="holder")
    header = w3.eth.get_block(block)
    number = int(header["number"])
    contract = w3.eth.contract(address=Web3.to_checksum_address(token), abi=ERC20_READ_ABI)
    raw = int(contract.functions.balanceOf(holder).call(block_identifier=number))
    decimals = int(contract.functions.decimals().call(block_identifier=number))
    return TokenBalance(
        chain_id=chain_id,
        token=token,
        holder=holder,
        block_number=number,
        block_hash="0x" + bytes(header["hash"]).hex(),
        raw=raw,
        decimals=decimals,
    )
