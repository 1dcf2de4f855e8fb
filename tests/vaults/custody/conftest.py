"""An in-process EVM (eth-tester + py-evm) running the real Safe v1.4.1 bytecode, deployed once per session, with
each test run inside a snapshot that is reverted afterwards. Keys are generated here, never stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3

from accounts.models import Wallet
from tests.factories import UserFactory
from tests.vaults.builders import vault_new
from vaults.custody import chain, guard
from vaults.custody.deposits import DepositScan, vault_safe_deposits_scan
from vaults.models import ChainTransfer, Vault, VaultSafe

VAULT_FUNDS = 1_000_000 * 10**6  # 1,000,000 tUSD in base units (6 decimals)


@dataclass
class Evm:
    tester: Any
    w3: Web3
    chain_id: int
    deployer: LocalAccount  # also the executor that pays gas for execTransaction
    cosigner: LocalAccount
    operators: list[LocalAccount]
    recovery: LocalAccount
    infrastructure: chain.SafeInfrastructure
    safe: str
    token: str

    def balance(self, owner: str) -> int:
        return chain.erc20_balance(self.w3, self.token, owner)

    def owner_key(self, address: str) -> LocalAccount:
        return {a.address: a for a in [self.cosigner, *self.operators, self.recovery]}[address]


@pytest.fixture(scope="session")
def evm_session() -> Evm:
    from eth_tester import EthereumTester, PyEVMBackend

    tester = EthereumTester(PyEVMBackend())
    w3 = Web3(EthereumTesterProvider(tester))
    deployer = Account.create()
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": deployer.address, "value": 10**21})
    cosigner, operator_a, operator_b, recovery = (Account.create() for _ in range(4))
    infrastructure = chain.safe_infrastructure_deploy(w3, deployer)
    safe = chain.vault_safe_deploy(
        w3,
        infrastructure,
        cosigner=cosigner.address,
        operators=[operator_a.address, operator_b.address],
        recovery=recovery.address,
        threshold=2,
        deployer=deployer,
    )
    token = chain.erc20_test_token_deploy(w3, deployer, holder=safe, amount=VAULT_FUNDS)
    return Evm(
        tester=tester,
        w3=w3,
        chain_id=w3.eth.chain_id,
        deployer=deployer,
        cosigner=cosigner,
        operators=[operator_a, operator_b],
        recovery=recovery,
        infrastructure=infrastructure,
        safe=safe,
        token=token,
    )


@pytest.fixture
def evm(evm_session: Evm) -> Iterator[Evm]:
    """The session's chain, reverted to its deployed state after the test."""
    snapshot = evm_session.tester.take_snapshot()
    yield evm_session
    evm_session.tester.revert_to_snapshot(snapshot)


# -- a vault on that Safe, in the database --------------------------------------------------------------------


@dataclass
class Custody:
    """A vault whose assets sit in the session's Safe (``VaultSafe`` row), a depositor holding 1,000 tUSD of shares
    with two linked wallets (generated keys), two operators, and the co-signer's key in the environment."""

    evm: Evm
    vault: Any
    safe: Any
    depositor: Any
    wallet_a: LocalAccount
    wallet_b: LocalAccount
    operators: list[Any]

    def withdraw(self, shares: int) -> Any:
        """A withdrawal of ``shares`` shares at the deposit's instant (P = 1: the payout is ``shares`` base units)."""
        from decimal import Decimal

        from tests.vaults.builders import at
        from vaults import services

        return services.vault_withdrawal_request(
            vault_id=self.vault.pk, depositor_id=self.depositor.pk, shares=Decimal(shares), at=at(0)
        )


DEPOSITED = 1_000 * 10**6


@pytest.fixture
def custody(evm: Evm, monkeypatch: pytest.MonkeyPatch) -> Custody:
    from accounts.models import Wallet
    from tests.factories import OperatorFactory, UserFactory
    from tests.vaults.builders import deposit, vault_new
    from vaults.custody.cosigner import COSIGNER_KEY_VARIABLE
    from vaults.custody.services import proposal_steps
    from vaults.models import VaultSafe

    monkeypatch.setenv(COSIGNER_KEY_VARIABLE, "0x" + evm.cosigner.key.hex())
    # The services reach the chain through chain_web3(chain_id), looked up in proposal_steps: here, the in-process EVM.
    monkeypatch.setattr(proposal_steps, "chain_web3", lambda chain_id: evm.w3)
    vault = vault_new()
    depositor = UserFactory()
    wallet_a, wallet_b = Account.create(), Account.create()
    # Linked three days ago: a wallet authorises withdrawals 48 h after its link (tests/accounts test the wait).
    linked_at = timezone.now() - timedelta(days=3)
    for wallet in (wallet_a, wallet_b):
        Wallet.objects.create(user=depositor, address=wallet.address, chain_id=evm.chain_id, created_at=linked_at)
    deposit(vault, depositor, DEPOSITED)
    safe = VaultSafe.objects.create(
        vault=vault,
        chain_id=evm.chain_id,
        address=evm.safe,
        asset_contract=evm.token,
        owners=chain.safe_owners(evm.w3, evm.safe),
        threshold=chain.safe_threshold(evm.w3, evm.safe),
        cosigner=evm.cosigner.address,
        guard=guard.safe_guard(evm.w3, evm.safe),
        deployed_block=0,
    )
    return Custody(
        evm=evm,
        vault=vault,
        safe=safe,
        depositor=depositor,
        wallet_a=wallet_a,
        wallet_b=wallet_b,
        operators=[OperatorFactory(), OperatorFactory(), OperatorFactory()],  # the first proposes, the others approve
    )


# -- deposits into that Safe (tests/vaults/custody/test_deposits.py, the ChainTransfer admin) ----------------------


@dataclass
class Deposits:
    """A vault whose Safe is the EVM's, a fresh 6-decimal token, two users with a linked wallet each, a stranger."""

    evm: Evm
    token: str
    vault: Vault
    safe: VaultSafe
    alice: Any
    bob: Any
    alice_wallet: LocalAccount
    bob_wallet: LocalAccount
    stranger: LocalAccount

    def send(self, sender: LocalAccount, amount: int) -> int:
        """Transfer ``amount`` base units from ``sender`` into the Safe; the block it was mined in."""
        receipt = chain.erc20_transfer(self.evm.w3, self.token, sender, self.safe.address, amount)
        assert receipt["status"] == 1
        return int(receipt["blockNumber"])

    def mine(self, blocks: int) -> None:
        self.evm.tester.mine_blocks(blocks)

    def scan(self, confirmations: int = 3, **options: Any) -> DepositScan:
        return vault_safe_deposits_scan(
            vault_safe_id=self.safe.pk, w3=self.evm.w3, confirmations=confirmations, **options
        )

    def transfer(self, pk: int) -> ChainTransfer:
        return ChainTransfer.objects.get(pk=pk)


@pytest.fixture
def deposits(evm: Evm) -> Deposits:
    w3 = evm.w3
    alice_wallet, bob_wallet, stranger = (Account.create() for _ in range(3))
    token = chain.erc20_test_token_deploy(w3, evm.deployer, holder=evm.deployer.address, amount=10**15)
    for holder in (alice_wallet, bob_wallet, stranger):
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": holder.address, "value": 10**18})
        chain.erc20_transfer(w3, token, evm.deployer, holder.address, 10**12)
    alice, bob = UserFactory(), UserFactory()
    Wallet.objects.create(user=alice, address=alice_wallet.address, chain_id=evm.chain_id)
    Wallet.objects.create(user=bob, address=bob_wallet.address, chain_id=evm.chain_id)
    vault = vault_new()
    safe = VaultSafe.objects.create(
        vault=vault,
        chain_id=evm.chain_id,
        address=evm.safe,
        asset_contract=token,
        owners=[evm.cosigner.address, *(o.address for o in evm.operators), evm.recovery.address],
        threshold=2,
        cosigner=evm.cosigner.address,
        deployed_block=w3.eth.block_number,
    )
    return Deposits(evm, token, vault, safe, alice, bob, alice_wallet, bob_wallet, stranger)
