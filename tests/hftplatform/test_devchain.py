"""The demo's dev chain in its own process, spoken to over HTTP JSON-RPC the way the platform and a browser wallet
do: chain ID, the real Safe and ERC-20 deployed and used, logs, batches, errors; the demo's chain setup on it; the
deposit scan task through ``CHAIN_RPC_URLS``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from web3 import HTTPProvider, Web3

from accounts.models import Wallet
from hftplatform import demo_chain
from tests.factories import UserFactory
from tests.live_processes import DevChainProcess, devchain_process
from vaults.custody import chain, tasks
from vaults.custody.deposits import transfer_logs_read
from vaults.custody.safe_tx import SafeTx, safe_tx_hash
from vaults.models import ChainTransfer, Deposit, DepositScanCursor, Vault, VaultSafe


@pytest.fixture(scope="module")
def devchain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevChainProcess]:
    directory = tmp_path_factory.mktemp("devchain")
    with devchain_process(directory / "devchain.json", directory / "devchain.log") as server:
        yield server


def _w3(server: DevChainProcess) -> Web3:
    return Web3(HTTPProvider(server.url))


def _funded(w3: Web3, wei: int = 10**20) -> Any:
    account = Account.create()
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": wei})
    )
    return account


def test_state_file_names_the_url_port_and_chain(devchain: DevChainProcess) -> None:
    assert devchain.state["host"] == "127.0.0.1"
    assert devchain.state["url"] == f"http://127.0.0.1:{devchain.state['port']}"
    assert (devchain.state["chain_id"], devchain.state["pid"]) == (31337, devchain.process.pid)


def test_the_real_safe_and_token_over_http(devchain: DevChainProcess) -> None:
    w3 = _w3(devchain)
    assert (w3.eth.chain_id, w3.net.version) == (31337, "31337")
    deployer = _funded(w3)
    owners = [Account.create() for _ in range(4)]
    infrastructure = chain.safe_infrastructure_deploy(w3, deployer)
    safe = chain.vault_safe_deploy(
        w3,
        infrastructure,
        cosigner=owners[0].address,
        operators=[owners[1].address, owners[2].address],
        recovery=owners[3].address,
        threshold=2,
        deployer=deployer,
    )
    token = chain.erc20_test_token_deploy(w3, deployer, holder=deployer.address, amount=10**12)
    first_block = w3.eth.block_number

    receipt = chain.erc20_transfer(w3, token, deployer, safe, 4_321_000)

    assert chain.safe_owners(w3, safe) == [owner.address for owner in owners]
    assert chain.safe_threshold(w3, safe) == 2
    assert chain.safe_contract(w3, safe).functions.getChainId().call() == 31337  # the CHAINID opcode agrees
    tx = SafeTx(to=owners[0].address, value=0, data=b"", operation=0, nonce=0)
    assert chain.safe_tx_hash_onchain(w3, safe, tx) == safe_tx_hash(31337, safe, tx)
    assert chain.safe_exec_simulate(w3, safe, tx, b"", deployer.address) == "GS020"  # reverts travel as errors
    assert chain.erc20_balance(w3, token, safe) == 4_321_000
    assert receipt["status"] == 1 and receipt["blockNumber"] == first_block + 1  # mined at once
    logs, requests_made = transfer_logs_read(
        w3, token=token, recipient=safe, from_block=0, to_block=w3.eth.block_number, blocks_per_request=5
    )
    [log] = logs
    assert (log.sender, log.recipient, log.amount, log.block_number) == (
        deployer.address,
        safe,
        4_321_000,
        first_block + 1,
    )
    assert log.block_hash == "0x" + bytes(w3.eth.get_block(first_block + 1)["hash"]).hex()
    assert requests_made == -(-(w3.eth.block_number + 1) // 5)


def test_batches_unknown_methods_and_bad_json(devchain: DevChainProcess) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": "two", "method": "eth_nosuchmethod", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBlockByNumber", "params": ["0x0", False]},
    ]

    answers = requests.post(devchain.url, json=batch, timeout=10).json()
    broken = requests.post(devchain.url, data=b"{not json", timeout=10).json()

    assert [answer["id"] for answer in answers] == [1, "two", 3]
    assert answers[0]["result"] == "0x7a69"
    assert answers[1]["error"]["code"] == -32601
    block = answers[2]["result"]
    assert block["number"] == "0x0" and block["hash"].startswith("0x") and len(block["hash"]) == 66
    assert len(block["logsBloom"]) == 2 + 512
    assert broken == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}


def test_a_taken_port_is_left_alone(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with devchain_process(tmp_path / "devchain.json", tmp_path / "devchain.log", port=port) as server:
            assert server.state["port"] != port
            assert _w3(server).eth.chain_id == 31337


@pytest.mark.django_db
def test_demo_chain_setup_then_a_deposit_credited_by_the_scan_task(
    devchain: DevChainProcess, tmp_path: Path, settings
) -> None:  # type: ignore[no-untyped-def]
    w3 = _w3(devchain)
    depositor = UserFactory()
    keys = demo_chain.demo_chain_keys_load(path=tmp_path / "demo-chain-keys.json")

    first = demo_chain.demo_chain_setup(w3=w3, rpc_url=devchain.url, keys=keys, depositor=depositor)

    assert (tmp_path / "demo-chain-keys.json").stat().st_mode & 0o777 == 0o600
    assert demo_chain.demo_chain_keys_load(path=tmp_path / "demo-chain-keys.json") == keys
    vault_safe = VaultSafe.objects.get()
    assert (vault_safe.chain_id, vault_safe.address, vault_safe.asset_contract) == (31337, first.safe, first.token)
    assert (
        vault_safe.owners
        == chain.safe_owners(w3, first.safe)
        == [keys.account(name).address for name in ("cosigner", "operator_a", "operator_b", "recovery")]
    )
    assert (vault_safe.threshold, chain.safe_threshold(w3, first.safe)) == (2, 2)
    assert vault_safe.vault.asset_decimals == 6
    assert sorted(Wallet.objects.filter(user=depositor).values_list("address", flat=True)) == sorted(
        [first.wallet_1, first.wallet_2]
    )
    for wallet in (first.wallet_1, first.wallet_2):
        assert chain.erc20_balance(w3, first.token, wallet) == demo_chain.WALLET_TOKENS
        assert w3.eth.get_balance(wallet) >= demo_chain.WALLET_ETHER

    # The depositor deposits from demo wallet 1; beat's task, through CHAIN_RPC_URLS, credits it.
    settings.CHAIN_RPC_URLS = {31337: devchain.url}
    chain.erc20_transfer(w3, first.token, keys.account("wallet_1"), first.safe, 250 * 10**6)
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    settings.DEPOSIT_CONFIRMATIONS = 1
    tasks.vault_safe_deposits_scan(vault_safe.pk)

    deposit = Deposit.objects.get()
    assert (deposit.depositor, deposit.amount, deposit.chain_id) == (depositor, 250 * 10**6, 31337)
    assert Vault.objects.get().value == 250 * 10**6
    assert ChainTransfer.objects.get().state == ChainTransfer.State.CREDITED

    # A restart of the demo deploys anew: the same row now names the new Safe and the scan starts over there.
    second = demo_chain.demo_chain_setup(w3=w3, rpc_url=devchain.url, keys=keys, depositor=depositor)

    vault_safe.refresh_from_db()
    assert second.safe != first.safe and second.token != first.token
    assert (vault_safe.address, vault_safe.asset_contract) == (second.safe, second.token)
    assert vault_safe.deployed_block == second.deployed_block > first.deployed_block
    assert not DepositScanCursor.objects.exists()
    assert VaultSafe.objects.count() == 1 and Wallet.objects.filter(user=depositor).count() == 2
