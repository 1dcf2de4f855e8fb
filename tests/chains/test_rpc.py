"""chain_web3: the RPC URL of each chain comes from settings.CHAIN_RPC_URLS; a missing chain is a clear error."""

from __future__ import annotations

import pytest
from web3 import HTTPProvider

from chains.rpc import ChainNotConfigured, chain_rpc_url, chain_web3


def test_chain_web3_uses_the_configured_url(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CHAIN_RPC_URLS = {31337: "http://127.0.0.1:8545", 1: "http://127.0.0.1:9999/mainnet"}

    w3 = chain_web3(1)

    assert isinstance(w3.provider, HTTPProvider)
    assert w3.provider.endpoint_uri == "http://127.0.0.1:9999/mainnet"
    assert chain_rpc_url(31337) == "http://127.0.0.1:8545"


def test_missing_chain_names_the_chain_and_the_setting(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CHAIN_RPC_URLS = {31337: "http://127.0.0.1:8545"}

    with pytest.raises(ChainNotConfigured) as caught:
        chain_web3(137)

    assert caught.value.chain_id == 137
    assert str(caught.value) == (
        'no RPC URL for chain 137: add it to CHAIN_RPC_URLS (e.g. CHAIN_RPC_URLS="137=http://127.0.0.1:8545"); '
        "configured chains: 31337"
    )


def test_no_chain_configured(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CHAIN_RPC_URLS = {}

    with pytest.raises(ChainNotConfigured, match="configured chains: none"):
        chain_rpc_url(1)
