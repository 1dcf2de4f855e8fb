"""The on-chain half of "nothing moves without the policy co-signer": reads and calls of a vault Safe's
``CosignerGuard`` (``contracts/CosignerGuard.vy``; its docstring states the rules the guard enforces).

Every vault Safe is deployed with the guard installed by its own setup (:func:`vaults.custody.chain.vault_safe_deploy`),
so from its first block no set of owner keys without the co-signer executes anything, by signatures, by
``approveHash`` or by a module (the guard forbids modules and DELEGATECALL). The one way around a lost co-signer key
is a recovery announced on chain by an owner of the Safe, public for at least 7 days (the vault's page lists it),
cancellable by the co-signer, after which the other owners may replace the co-signer, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode
from safe_eth.eth.contracts import get_safe_V1_4_1_contract
from web3 import Web3
from web3.contract import Contract

from chains.addresses import address_normalise
from chains.contracts import contract_artifact

GUARD_CONTRACT = "CosignerGuard"
INSTALLER_CONTRACT = "SafeGuardInstaller"
RECOVERY_DELAY_MIN_S = 7 * 24 * 3600
# Safe v1.4.1 GuardManager keeps the guard at keccak256("guard_manager.guard.address").
GUARD_STORAGE_SLOT = 0x4A204F620C8C5CCDCA3FD54D003BADD85BA500436A431F0CBDA4F558C93C34C8
_SENTINEL = "0x0000000000000000000000000000000000000001"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def guard_contract(w3: Web3, guard_address: str) -> Contract:
    abi = contract_artifact(GUARD_CONTRACT).abi
    return w3.eth.contract(address=Web3.to_checksum_address(address_normalise(guard_address, field="guard")), abi=abi)


def safe_guard(w3: Web3, safe_address: str) -> str:
    """The guard a Safe v1.4.1 runs on every ``execTransaction`` (the zero address: none)."""
    word = bytes(w3.eth.get_storage_at(Web3.to_checksum_address(safe_address), GUARD_STORAGE_SLOT))
    return address_normalise("0x" + word[-20:].hex())


def safe_modules(w3: Web3, safe_address: str) -> list[str]:
    """The Safe's enabled modules (each could execute transactions that skip the guard)."""
    safe = get_safe_V1_4_1_contract(w3, Web3.to_checksum_address(address_normalise(safe_address, field="safe")))
    modules, _ = safe.functions.getModulesPaginated(_SENTINEL, 50).call()
    return [address_normalise(str(module)) for module in modules]


def guard_cosigner(w3: Web3, guard_address: str) -> str:
    if address_normalise(guard_address) == ZERO_ADDRESS:
        return ZERO_ADDRESS
    return address_normalise(str(guard_contract(w3, guard_address).functions.cosigner().call()))


def guard_safe(w3: Web3, guard_address: str) -> str:
    return address_normalise(str(guard_contract(w3, guard_address).functions.SAFE().call()))


def guard_recovery_delay(w3: Web3, guard_address: str) -> int:
    """Seconds between a recovery's announcement and the earliest moment it may execute (at least 7 days)."""
    return int(guard_contract(w3, guard_address).functions.RECOVERY_DELAY().call())


def cosigner_replace_data(new_cosigner: str) -> bytes:
    """Calldata of ``cosigner_replace(new_cosigner)``: the only call a matured recovery may make."""
    selector = Web3.keccak(text="cosigner_replace(address)")[:4]
    return bytes(selector) + encode(["address"], [address_normalise(new_cosigner, field="new co-signer")])


@dataclass(frozen=True)
class PendingRecovery:
    """An announced replacement of the co-signer, not cancelled nor executed. Times are Unix seconds (block time)."""

    new_cosigner: str
    announced_by: str
    announced_at: int
    executable_at: int
    block_number: int
    tx_hash: str


def recovery_pending(w3: Web3, guard_address: str, *, from_block: int = 0) -> list[PendingRecovery]:
    """The guard's pending recoveries, read from its ``RecoveryAnnounced`` events and its current state."""
    contract = guard_contract(w3, guard_address)
    latest: dict[str, PendingRecovery] = {}
    for event in contract.events.RecoveryAnnounced().get_logs(from_block=from_block):
        new_cosigner = address_normalise(str(event["args"]["new_cosigner"]))
        block = w3.eth.get_block(event["blockNumber"])
        latest[new_cosigner] = PendingRecovery(
            new_cosigner=new_cosigner,
            announced_by=address_normalise(str(event["args"]["announced_by"])),
            announced_at=int(block["timestamp"]),
            executable_at=int(event["args"]["executable_at"]),
            block_number=int(event["blockNumber"]),
            tx_hash="0x" + bytes(event["transactionHash"]).hex(),
        )
    pending = []
    for recovery in latest.values():
        current = int(contract.functions.recovery_executable_at(recovery.new_cosigner).call())
        if current == recovery.executable_at:
            pending.append(recovery)
    return sorted(pending, key=lambda recovery: (recovery.block_number, recovery.new_cosigner))
