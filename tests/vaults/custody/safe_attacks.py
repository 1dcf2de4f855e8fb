"""Drain attempts on a vault Safe with keys that lack the policy co-signer, over any web3 connection (the in-process
EVM or the demo's dev chain over HTTP): by ECDSA signatures of the Safe transaction hash and by on-chain
``approveHash``. Each attempt is mined with a fixed gas (no simulation can hide a success) and reported."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from eth_account.signers.local import LocalAccount
from web3 import Web3

from vaults.custody import chain
from vaults.custody.calls import erc20_transfer_data
from vaults.custody.safe_tx import OwnerSignature, SafeTx, hash_sign, safe_tx_hash, signatures_pack


@dataclass(frozen=True)
class Attempt:
    keys: tuple[str, ...]
    method: str
    status: int  # the execTransaction receipt's status: 0 reverted, 1 executed


def key_subsets(keys: Sequence[LocalAccount], *, smallest: int = 1) -> list[tuple[LocalAccount, ...]]:
    return [subset for size in range(smallest, len(keys) + 1) for subset in combinations(keys, size)]


def drain_attempts(
    w3: Web3,
    *,
    safe: str,
    token: str,
    thief: str,
    key_sets: Sequence[Sequence[LocalAccount]],
    relayer: LocalAccount,
    names: dict[str, str],
    faucet: str | None = None,
) -> list[Attempt]:
    """For every key set, try ``transfer(thief, whole balance)`` by signatures, then by ``approveHash``; ``names``
    maps addresses to key names for the report. ``faucet`` (an unlocked account) pays the approvers' gas."""
    attempts = []
    chain_id = int(w3.eth.chain_id)
    safe_contract = chain.safe_contract(w3, safe)
    for keys in key_sets:
        ordered = sorted(keys, key=lambda key: int(key.address, 16))
        label = tuple(names[key.address] for key in ordered)
        for method in ("signatures", "approveHash"):
            balance = chain.erc20_balance(w3, token, safe)
            tx = SafeTx(
                to=token, value=0, data=erc20_transfer_data(thief, balance), operation=0,
                nonce=chain.safe_nonce(w3, safe),
            )  # fmt: skip
            digest = safe_tx_hash(chain_id, safe, tx)
            if method == "signatures":
                packed = signatures_pack(digest, [OwnerSignature(k.address, hash_sign(digest, k.key)) for k in ordered])
            else:
                for key in ordered:
                    if faucet is not None and w3.eth.get_balance(key.address) < 10**17:  # type: ignore[arg-type]
                        w3.eth.wait_for_transaction_receipt(
                            w3.eth.send_transaction({"from": faucet, "to": key.address, "value": 10**18})  # type: ignore[typeddict-item]
                        )
                    chain._call_send(w3, key, safe_contract.functions.approveHash(digest), gas=100_000)
                packed = b"".join(int(k.address, 16).to_bytes(32, "big") + bytes(32) + b"\x01" for k in ordered)
            receipt = chain.safe_exec(w3, safe, tx, packed, relayer, gas=900_000)
            attempts.append(Attempt(keys=label, method=method, status=int(receipt["status"])))
    return attempts
