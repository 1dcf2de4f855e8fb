"""The dev chain's faucet account is unlocked (``eth_sendTransaction`` from it needs no key), so a web page must
not be able to call it: the node answers CORS only for the site's origin and refuses any other web origin's request
outright (a ``text/plain`` POST needs no preflight: without the refusal it would run). Browser wallets (extension
origins) and clients without an Origin (web3.py, the platform) are served as before."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hftplatform.devchain import DevChain, devchain_server

SITE = "http://127.0.0.1:8000"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[str, DevChain]]:
    chain = DevChain()
    server = devchain_server(chain, port=0, allowed_origins=[SITE])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", chain
    finally:
        server.shutdown()
        server.server_close()


def _rpc(method: str, params: list[Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})


def _block(url: str) -> int:
    return int(
        requests.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}, timeout=10
        ).json()["result"],
        16,
    )


def test_another_web_origin_cannot_send_from_the_unlocked_account(node: tuple[str, DevChain]) -> None:
    # Given the node and its unlocked faucet account
    url, chain = node
    faucet = chain.answer({"jsonrpc": "2.0", "id": 1, "method": "eth_accounts", "params": []})["result"][0]
    before = _block(url)

    # When a page on another origin posts a transaction with a "simple" content type (no preflight)
    send = _rpc("eth_sendTransaction", [{"from": faucet, "to": "0x" + "22" * 20, "value": "0xde0b6b3a7640000"}])
    response = requests.post(url, data=send, headers={"Origin": EVIL, "Content-Type": "text/plain"}, timeout=10)

    # Then it is refused, with no CORS header, and nothing was mined
    assert response.status_code == 403
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32000, "message": f"origin {EVIL} is not allowed"},
    }
    assert "Access-Control-Allow-Origin" not in response.headers
    assert _block(url) == before
    # and its preflight is refused too
    preflight = requests.options(url, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}, timeout=10)
    assert preflight.status_code == 403 and "Access-Control-Allow-Origin" not in preflight.headers


def test_the_sites_origin_gets_cors_and_wallets_and_servers_are_served(node: tuple[str, DevChain]) -> None:
    url, _ = node
    chain_id = _rpc("eth_chainId", [])
    site = requests.post(url, data=chain_id, headers={"Origin": SITE, "Content-Type": "application/json"}, timeout=10)
    assert (site.status_code, site.json()["result"]) == (200, "0x7a69")
    assert site.headers["Access-Control-Allow-Origin"] == SITE
    assert site.headers["Vary"] == "Origin"
    preflight = requests.options(url, headers={"Origin": SITE, "Access-Control-Request-Method": "POST"}, timeout=10)
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == SITE

    for origin in ("chrome-extension://nkbihfbeogaeaoehlefnkodbefgpgknn", "moz-extension://0a1b2c3d"):
        wallet = requests.post(url, data=chain_id, headers={"Origin": origin}, timeout=10)
        assert (wallet.status_code, wallet.json()["result"]) == (200, "0x7a69")
        assert "Access-Control-Allow-Origin" not in wallet.headers  # extensions are not bound by CORS

    server_side = requests.post(url, data=chain_id, headers={"Content-Type": "application/json"}, timeout=10)
    assert (server_side.status_code, server_side.json()["result"]) == (200, "0x7a69")
    assert "Access-Control-Allow-Origin" not in server_side.headers


def test_the_demo_lets_its_own_site_call_the_node() -> None:
    from hftplatform.management.commands.demo import site_origins

    assert site_origins("127.0.0.1", 8000) == ["http://127.0.0.1:8000", "http://localhost:8000"]
    assert site_origins("192.168.1.5", 9000) == ["http://192.168.1.5:9000"]
