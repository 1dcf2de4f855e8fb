"""The demo's chain side: on the local dev chain (:mod:`hftplatform.devchain`), the Safe v1.4.1 contracts, a test
stablecoin (6 decimals), the demo vault's Safe (guarded: nothing executes without the co-signer, see
:mod:`vaults.custody.guard`) and its :class:`~vaults.models.VaultSafe` row, and the demo depositor's two wallets,
linked to the depositor and funded with ether and test stablecoin.

Keys: the Safe owners' (policy co-signer, two operators, recovery) and the two demo wallets' are generated once
per data directory and kept in ``demo-chain-keys.json`` there (mode 0600, never in the repository), so the
wallets imported into a browser wallet stay the same. The dev chain lives in memory, so every demo start deploys
again: with a fresh deployer key and a random Safe salt, so the new token and Safe get new addresses and no
transaction of an earlier run can be mistaken for one of this run (a transaction's hash depends only on its
content). The vault's ``VaultSafe`` row is pointed at the new Safe and its deposit scan starts over at the new
Safe's creation block; transfers recorded from earlier runs stay as history.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import Wei

from accounts.core.wallet_vouch import WALLET_WITHDRAWAL_DELAY
from accounts.models import User, Wallet
from vaults import services
from vaults.custody import chain, guard
from vaults.models import CosignerRecovery, DepositScanCursor, Vault, VaultSafe

VAULT_SLUG = "demo-tusd"
TOKEN_DECIMALS = 6
TOKEN_SUPPLY = 100_000_000 * 10**TOKEN_DECIMALS
WALLET_TOKENS = 100_000 * 10**TOKEN_DECIMALS  # test stablecoin per demo wallet
WALLET_ETHER = 100 * 10**18
DEPLOYER_ETHER = 1_000 * 10**18
SAFE_THRESHOLD = 2
_KEY_NAMES = ("cosigner", "operator_a", "operator_b", "recovery", "wallet_1", "wallet_2")


@dataclass(frozen=True)
class DemoChainKeys:
    """0x-hex private keys; the Safe owners' and the demo depositor's two wallets'."""

    cosigner: str
    operator_a: str
    operator_b: str
    recovery: str
    wallet_1: str
    wallet_2: str

    def account(self, name: str) -> LocalAccount:
        account: LocalAccount = Account.from_key(getattr(self, name))
        return account


@dataclass(frozen=True)
class DemoChain:
    """What the demo deployed on this run of the dev chain (addresses checksummed)."""

    rpc_url: str
    chain_id: int
    token: str
    safe: str
    guard: str  # the Safe's CosignerGuard: nothing executes without the co-signer (vaults.custody.guard)
    safe_singleton: str
    proxy_factory: str
    guard_installer: str
    deployed_block: int
    deployer_key: str
    vault_id: int
    wallet_1: str
    wallet_2: str


def demo_chain_keys_load(*, path: Path) -> DemoChainKeys:
    """The demo's keys, generated once per data directory (file mode 0600)."""
    if path.exists():
        return DemoChainKeys(**json.loads(path.read_text()))
    keys = DemoChainKeys(**{name: "0x" + secrets.token_bytes(32).hex() for name in _KEY_NAMES})
    _secret_write(path, json.dumps(asdict(keys), indent=2))
    return keys


def _secret_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (the mode set before any byte is written)."""
    from hftplatform.core.private_files import secret_file_write

    secret_file_write(path, text)


def demo_chain_setup(*, w3: Web3, rpc_url: str, keys: DemoChainKeys, depositor: User) -> DemoChain:
    """Deploy the demo's contracts on the (fresh) dev chain behind ``w3``, link and fund the depositor's two demo
    wallets, and point the demo vault's ``VaultSafe`` at the new Safe. Amounts in base units."""
    chain_id = int(w3.eth.chain_id)
    faucet = w3.eth.accounts[0]  # the dev chain's pre-funded, unlocked account
    deployer: LocalAccount = Account.create()
    wallets = [keys.account("wallet_1"), keys.account("wallet_2")]
    for address, wei in ((deployer.address, DEPLOYER_ETHER), *((w.address, WALLET_ETHER) for w in wallets)):
        chain.receipt_wait(w3, bytes(w3.eth.send_transaction({"from": faucet, "to": address, "value": Wei(wei)})))
    infrastructure = chain.safe_infrastructure_deploy(w3, deployer)
    token = chain.erc20_test_token_deploy(
        w3, deployer, holder=deployer.address, amount=TOKEN_SUPPLY, decimals=TOKEN_DECIMALS
    )
    first_possible_block = int(w3.eth.block_number) + 1
    owners: list[str] = [keys.account(name).address for name in ("cosigner", "operator_a", "operator_b", "recovery")]
    safe = chain.vault_safe_deploy(
        w3,
        infrastructure,
        cosigner=owners[0],
        operators=owners[1:3],
        recovery=owners[3],
        threshold=SAFE_THRESHOLD,
        deployer=deployer,
        salt_nonce=secrets.randbits(64),
    )
    for wallet in wallets:
        chain.erc20_transfer(w3, token, deployer, wallet.address, WALLET_TOKENS)
    vault = _demo_vault_point_at(
        chain_id=chain_id,
        safe=safe,
        guard=guard.safe_guard(w3, safe),
        token=token,
        owners=owners,
        deployed_block=first_possible_block,
    )
    # The demo's wallets count as linked 48 h ago, so the demo can withdraw at once; a real link waits 48 h (or is
    # vouched for by an older wallet) before it authorises withdrawals.
    linked_at = timezone.now() - WALLET_WITHDRAWAL_DELAY
    for number, wallet in enumerate(wallets, start=1):
        Wallet.objects.update_or_create(
            address=wallet.address,
            defaults={"user": depositor, "chain_id": chain_id, "label": f"demo wallet {number}"},
            create_defaults={
                "user": depositor,
                "chain_id": chain_id,
                "label": f"demo wallet {number}",
                "created_at": linked_at,
            },
        )
    return DemoChain(
        rpc_url=rpc_url,
        chain_id=chain_id,
        token=token,
        safe=safe,
        guard=guard.safe_guard(w3, safe),
        safe_singleton=infrastructure.singleton,
        proxy_factory=infrastructure.proxy_factory,
        guard_installer=infrastructure.guard_installer,
        deployed_block=first_possible_block,
        deployer_key="0x" + bytes(deployer.key).hex(),
        vault_id=vault.pk,
        wallet_1=wallets[0].address,
        wallet_2=wallets[1].address,
    )


@transaction.atomic
def _demo_vault_point_at(
    *, chain_id: int, safe: str, guard: str, token: str, owners: list[str], deployed_block: int
) -> Vault:
    vault = Vault.objects.filter(slug=VAULT_SLUG).first()
    if vault is None:
        vault = services.vault_create(
            name="Demo tUSD vault",
            slug=VAULT_SLUG,
            base_asset="tUSD",
            asset_decimals=TOKEN_DECIMALS,
            allocation={"gmx": {"weight": "0.2", "max": "0.25"}, "aave": {"weight": "0.5", "max": "0.6"}},
        )
    vault_safe, _ = VaultSafe.objects.update_or_create(
        vault=vault,
        defaults={
            "chain_id": chain_id,
            "address": safe,
            "asset_contract": token,
            "owners": owners,
            "threshold": SAFE_THRESHOLD,
            "cosigner": owners[0],
            "guard": guard,
            "deployed_block": deployed_block,
        },
    )
    DepositScanCursor.objects.filter(vault_safe=vault_safe).delete()  # blocks of an earlier chain mean nothing now
    CosignerRecovery.objects.filter(vault_safe=vault_safe).delete()  # an earlier chain's guard, gone with it
    return vault


def demo_chain_state_write(*, path: Path, demo_chain: DemoChain) -> None:
    """This run's addresses (and its throw-away deployer key) beside the data, mode 0600."""
    _secret_write(path, json.dumps(asdict(demo_chain), indent=2))
