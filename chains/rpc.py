"""One web3 connection per chain, from ``settings.CHAIN_RPC_URLS`` (chain ID -> JSON-RPC URL)."""

from __future__ import annotations

from django.conf import settings
from web3 import HTTPProvider, Web3

RPC_TIMEOUT_S = 30


class ChainNotConfigured(LookupError):
    """No RPC URL is set for a chain the platform was asked to talk to."""

    def __init__(self, chain_id: int) -> None:
        configured = ", ".join(str(chain) for chain in sorted(settings.CHAIN_RPC_URLS)) or "none"
        super().__init__(
            f"no RPC URL for chain {chain_id}: add it to CHAIN_RPC_URLS "
            f'(e.g. CHAIN_RPC_URLS="{chain_id}=http://127.0.0.1:8545"); configured chains: {configured}'
        )
        self.chain_id = chain_id


def chain_rpc_url(chain_id: int) -> str:
    """The JSON-RPC URL configured for ``chain_id``; :class:`ChainNotConfigured` if there is none."""
    url = settings.CHAIN_RPC_URLS.get(int(chain_id))
    if not url:
        raise ChainNotConfigured(int(chain_id))
    return str(url)


def chain_web3(chain_id: int) -> Web3:
    """A :class:`Web3` on ``chain_id``'s configured RPC URL (HTTP). It does not connect until first used, and does
    not check that the node really serves ``chain_id``: callers that sign compare ``w3.eth.chain_id`` first.
    """
    return Web3(HTTPProvider(chain_rpc_url(chain_id), request_kwargs={"timeout": RPC_TIMEOUT_S}))
