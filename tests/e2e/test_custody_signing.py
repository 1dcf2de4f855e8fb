"""A withdrawal signed in a real browser with two injected test wallets, against the real ASGI server and a real
EVM (the demo's dev chain over JSON-RPC) running the real Safe v1.4.1 and an ERC-20: the depositor requests it,
sees what they sign, signs it from one linked wallet (the same wallet again is refused), then the other; the policy
co-signer signs in the server, an operator key adds the second Safe signature, the relayer executes, the page
shows the executed transaction and the funds arrive at the linked wallet. The keys are generated here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from playwright.sync_api import expect
from web3 import HTTPProvider, Web3

from hftplatform import demo_chain
from tests import live_processes
from tests.e2e.browser import run_outside_playwright, session_cookie
from tests.factories import UserFactory
from vaults.custody import chain, services
from vaults.custody.deposits import vault_safe_deposits_scan
from vaults.custody.safe_tx import hash_sign
from vaults.custody.withdrawal_request import typed_signature_recover
from vaults.models import SafeProposal, VaultAccount, VaultSafe, Withdrawal

pytestmark = pytest.mark.browser

DEPOSIT = 1_000 * 10**6  # 1,000 test USDC (6 decimals)
WITHDRAW_SHARES = "250000000"

# What a wallet extension injects (EIP-1193), answering from the test: the selected account (lower-case, as
# MetaMask reports it), the chain, and eth_signTypedData_v4 through functions the test exposes.
FAKE_PROVIDER = """
window.ethereum = {
  request: async function ({ method, params }) {
    if (method === "eth_requestAccounts" || method === "eth_accounts") return [await window.testAccount()];
    if (method === "eth_chainId") return window.TEST_CHAIN_ID;
    if (method === "eth_signTypedData_v4") return await window.testSignTypedData(params[0], params[1]);
    throw new Error("unsupported method " + method);
  },
};
"""


@pytest.fixture
def keys(tmp_path: Path) -> demo_chain.DemoChainKeys:
    return demo_chain.demo_chain_keys_load(path=tmp_path / "keys.json")


@pytest.fixture
def devchain(tmp_path: Path) -> Iterator[live_processes.DevChainProcess]:
    with live_processes.devchain_process(tmp_path / "devchain.json", tmp_path / "devchain.log") as server:
        yield server


@pytest.fixture
def live_asgi_server_env(devchain: live_processes.DevChainProcess, keys: demo_chain.DemoChainKeys) -> dict[str, str]:
    chain_id = Web3(HTTPProvider(devchain.url)).eth.chain_id
    return {"CHAIN_RPC_URLS": f"{chain_id}={devchain.url}", "HFT_SAFE_COSIGNER_KEY": keys.cosigner}


def typed_data_sign(private_key: str, typed_json: str) -> str:
    """What a wallet does for eth_signTypedData_v4: uint256 values may arrive as decimal strings."""
    typed = json.loads(typed_json)
    integer_fields = {
        (struct, field["name"])
        for struct, fields in typed["types"].items()
        for field in fields
        if field["type"].startswith(("uint", "int"))
    }

    def numbers(struct: str, values: dict[str, Any]) -> dict[str, Any]:
        return {k: int(v) if (struct, k) in integer_fields else v for k, v in values.items()}

    typed["domain"] = numbers("EIP712Domain", typed["domain"])
    typed["message"] = numbers(typed["primaryType"], typed["message"])
    return str(Account.sign_typed_data(private_key, full_message=typed).signature.to_0x_hex())


def test_depositor_signs_a_withdrawal_with_two_browser_wallets_and_is_paid(
    chromium, live_asgi_server, devchain, keys, settings
) -> None:
    w3 = Web3(HTTPProvider(devchain.url))
    settings.CHAIN_RPC_URLS = {w3.eth.chain_id: devchain.url}
    wallets = {keys.account(name).address.lower(): keys.account(name) for name in ("wallet_1", "wallet_2")}
    wallet_1, wallet_2 = (keys.account("wallet_1").address, keys.account("wallet_2").address)

    # Given a depositor whose 1,000 USDC sent from wallet 1 to the vault Safe were credited by the deposit scan
    def setup() -> tuple[Any, demo_chain.DemoChain]:
        depositor = UserFactory()
        deployed = demo_chain.demo_chain_setup(w3=w3, rpc_url=devchain.url, keys=keys, depositor=depositor)
        chain.erc20_transfer(w3, deployed.token, keys.account("wallet_1"), deployed.safe, DEPOSIT)
        vault_safe_deposits_scan(vault_safe_id=VaultSafe.objects.get().pk, w3=w3, confirmations=0)
        assert VaultAccount.objects.get(depositor=depositor).shares == DEPOSIT  # P = 1 at the first deposit
        return depositor, deployed

    depositor, deployed = run_outside_playwright(setup)
    assert chain.erc20_balance(w3, deployed.token, deployed.safe) == DEPOSIT
    wallet_1_before = chain.erc20_balance(w3, deployed.token, wallet_1)

    selected = {"account": wallet_1.lower()}
    signed_by: list[str] = []

    def sign(address: str, typed_json: str) -> str:
        assert address.lower() == selected["account"], "the page signs with the wallet's selected account"
        signed_by.append(address.lower())
        return typed_data_sign(wallets[address.lower()].key.to_0x_hex(), typed_json)

    context = chromium.new_context()
    context.add_cookies([run_outside_playwright(session_cookie, user=depositor, url=live_asgi_server.url)])
    context.expose_function("testAccount", lambda: selected["account"])
    context.expose_function("testSignTypedData", sign)
    context.add_init_script(f"window.TEST_CHAIN_ID = {hex(w3.eth.chain_id)!r};" + FAKE_PROVIDER)
    page = context.new_page()
    page.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)

    # When they request a withdrawal of a quarter of their shares to wallet 1 from the holdings page
    page.goto(f"{live_asgi_server.url}/vaults/mine/")
    page.get_by_role("link", name="Withdraw…").click()
    page.get_by_label("Quantity").fill(WITHDRAW_SHARES)
    page.get_by_label("Pay to").select_option(wallet_1)
    page.get_by_role("button", name="Request withdrawal").click()
    page.wait_for_url(f"{live_asgi_server.url}/vaults/proposals/*/")

    # Then they see exactly what they sign: the payout, the destination and the request's EIP-712 hash
    proposal = run_outside_playwright(lambda: SafeProposal.objects.select_related("withdrawal").get())
    payout = int(proposal.withdrawal.payout)
    assert 0 < payout <= DEPOSIT // 4
    expect(page.locator("#proposal-state")).to_have_attribute("data-state", "proposed")
    expect(page.locator("#request-destination")).to_have_text(wallet_1)
    expect(page.locator("#request-amount")).to_contain_text(f"{payout} base units = {Decimal(payout) / 10**6}")
    expect(page.locator("#request-hash")).to_have_text(proposal.request_hash)

    # When they sign with wallet 1
    page.get_by_role("button", name="Sign with your browser wallet").click()
    expect(page.locator("#proposal-signatures li")).to_have_count(1)
    expect(page.locator("#proposal-wallet-status")).to_contain_text("switch your wallet to your other linked account")

    # Then signing again from the same wallet is refused in the page, before the wallet is even asked
    page.get_by_role("button", name="Sign with your browser wallet").click()
    expect(page.locator("#proposal-wallet-status")).to_contain_text("has signed already")
    assert signed_by == [wallet_1.lower()]

    # When they switch the wallet to wallet 2 and sign again
    selected["account"] = wallet_2.lower()
    page.get_by_role("button", name="Sign with your browser wallet").click()

    # Then the request is authorised and the server's co-signer, applying the policy, signed the Safe transaction
    expect(page.locator("#proposal-state")).to_have_attribute("data-state", "authorised")
    expect(page.locator("#proposal-signatures li")).to_have_count(3)
    expect(page.locator(f"#proposal-signatures li[data-signer='{keys.account('cosigner').address}']")).to_have_count(1)
    assert signed_by == [wallet_1.lower(), wallet_2.lower()]

    # When an operator adds the second Safe owner signature and the relayer executes it
    def operator_signs_and_relayer_executes() -> SafeProposal:
        current = SafeProposal.objects.get()
        operator = keys.account("operator_a")
        signature = hash_sign(bytes.fromhex(current.safe_tx_hash[2:]), bytes(operator.key))
        assert typed_signature_recover(bytes.fromhex(current.safe_tx_hash[2:]), signature) == operator.address
        services.owner_signature_add(proposal_id=current.pk, signature="0x" + signature.hex())
        relayer = Account.from_key(deployed.deployer_key)
        return services.proposal_execute(proposal_id=current.pk, sender=relayer, w3=w3)

    executed = run_outside_playwright(operator_signs_and_relayer_executes)
    assert executed.state == SafeProposal.State.EXECUTED, executed.state_reason

    # Then the page follows it to execution, the payout arrived at wallet 1 and the withdrawal is paid
    expect(page.locator("#proposal-state")).to_have_attribute("data-state", "executed")
    expect(page.locator("#proposal-tx")).to_have_text(executed.submission_tx_hash)
    assert chain.erc20_balance(w3, deployed.token, wallet_1) == wallet_1_before + payout
    assert chain.erc20_balance(w3, deployed.token, deployed.safe) == DEPOSIT - payout
    withdrawal = run_outside_playwright(lambda: Withdrawal.objects.get())
    assert withdrawal.state == Withdrawal.State.PAID
