"""`manage.py demo` end to end, on the embedded default: serves the site, then Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from eth_account import Account
from web3 import HTTPProvider, Web3

from hftplatform.embedded import EmbeddedServices
from tests.vaults.custody.safe_attacks import drain_attempts, key_subsets
from vaults.custody import chain

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.worker


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid: int) -> bool:
    """Running, not a zombie (a daemon's exit may wait for a reaper in containers without an init)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own server on 127.0.0.1
            return response.status, response.geturl(), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, url, ""


def _no_key_set_without_the_cosigner_moves_the_safes_tokens(
    w3: Web3, deployed: dict[str, Any], keys: dict[str, str]
) -> None:
    """The issue's held-out check, on the running demo: fund its Safe, then try to move the tokens with every set of
    the demo's keys other than the co-signer's, by signatures and by approveHash; all revert, the balance stays."""
    accounts = {name: Account.from_key(key) for name, key in keys.items()}
    names = {account.address: name for name, account in accounts.items()}
    safe, token = deployed["safe"], deployed["token"]
    funds = 10_000 * 10**6
    chain.erc20_transfer(w3, token, accounts["wallet_1"], safe, funds)
    thief = Account.create().address
    others = [accounts[name] for name in ("operator_a", "operator_b", "recovery", "wallet_1", "wallet_2")]
    attempts = drain_attempts(
        w3, safe=safe, token=token, thief=thief, key_sets=key_subsets(others), relayer=accounts["wallet_2"],
        names=names, faucet=w3.eth.accounts[0],
    )  # fmt: skip
    assert len(attempts) == 2 * 31
    assert [attempt for attempt in attempts if attempt.status != 0] == []
    assert chain.erc20_balance(w3, token, safe) == funds
    assert chain.erc20_balance(w3, token, thief) == 0
    # The same transfer with the co-signer and one operator executes: the attempts failed for want of the co-signer.
    [allowed] = drain_attempts(
        w3, safe=safe, token=token, thief=thief, key_sets=[(accounts["cosigner"], accounts["operator_a"])],
        relayer=accounts["wallet_2"], names=names, faucet=w3.eth.accounts[0],
    )[:1]  # fmt: skip
    assert allowed.status == 1
    assert chain.erc20_balance(w3, token, thief) == funds


def _wait_until_serving(url: str, demo: subprocess.Popen[str], deadline_seconds: float = 120) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            raise AssertionError(f"the demo exited while starting:\n{demo.stdout.read() if demo.stdout else ''}")
        try:
            _get(url)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer")


def test_demo_serves_the_platform_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    port = _free_port()
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"HFT_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base + "/health/", demo)
        children = psutil.Process(demo.pid).children(recursive=True)
        services = EmbeddedServices(data_dir)
        server_pids = [services.postgres_pid(), services.redis_pid()]

        # The site, the schema and the admin's sign-in page answer.
        assert _get(base + "/")[0] == 200
        status, _, schema = _get(base + "/api/schema/")
        assert status == 200
        assert "openapi" in schema
        status, final_url, page = _get(base + "/admin/")
        assert status == 200
        assert final_url.endswith("/accounts/login/?next=%2Fadmin%2F")
        assert 'name="password"' in page

        # Web, worker (with its pool) and beat are running, all children of the demo.
        command_lines = [" ".join(child.cmdline()) for child in children]
        assert any("daphne" in line for line in command_lines)
        assert any("worker" in line and "--queues hftbot" in line for line in command_lines)
        assert any("worker" in line and "--queues custody" in line for line in command_lines)
        assert any(" beat" in line for line in command_lines)
        assert any("hftplatform.devchain" in line for line in command_lines)
        assert all(pid and _alive(pid) for pid in server_pids)

        # The data directory is private and every secret in it is the owner's alone.
        assert stat.S_IMODE(data_dir.stat().st_mode) & 0o077 in (0, 0o001)  # o+x only when run as root
        for secret in ("demo-credentials.json", "demo-chain-keys.json"):
            assert stat.S_IMODE((data_dir / secret).stat().st_mode) == 0o600
        # The dev chain refuses pages of another origin and answers the site's with CORS.
        rpc = json.loads((data_dir / "devchain.json").read_text())["url"]
        call = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        assert requests.post(rpc, json=call, headers={"Origin": "https://evil.example"}, timeout=10).status_code == 403
        site = requests.post(rpc, json=call, headers={"Origin": base}, timeout=10)
        assert site.headers["Access-Control-Allow-Origin"] == base
        credentials = json.loads((data_dir / "demo-credentials.json").read_text())
        assert credentials["operator_email"] == "operator@demo.hftbot.local"
        # The dev chain answers at the URL the demo wrote, with the demo vault's Safe deployed on it.
        deployed = json.loads((data_dir / "demo-chain.json").read_text())
        keys = json.loads((data_dir / "demo-chain-keys.json").read_text())
        w3 = Web3(HTTPProvider(deployed["rpc_url"]))
        assert w3.eth.chain_id == deployed["chain_id"] == 31337
        assert chain.safe_threshold(w3, deployed["safe"]) == 2
        assert chain.erc20_balance(w3, deployed["token"], deployed["wallet_1"]) == 100_000 * 10**6
        _no_key_set_without_the_cosigner_moves_the_safes_tokens(w3, deployed, keys)
    finally:
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=60)

    assert demo.returncode == 0, output
    assert "operator (admin):  operator@demo.hftbot.local" in output
    assert credentials["operator_password"] in output
    assert f"dev chain: {deployed['rpc_url']}  (chain ID 31337" in output
    assert deployed["token"] in output and deployed["safe"] in output
    assert keys["wallet_1"] in output and keys["wallet_2"] in output
    # Nothing is left: not the web, worker or beat processes, nor the embedded servers.
    time.sleep(0.5)
    leftovers = [child.pid for child in children if _alive(child.pid)]
    assert leftovers == []
    assert not any(pid and _alive(pid) for pid in server_pids), output
