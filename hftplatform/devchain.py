"""The demo's local dev chain: a real in-process EVM (eth-tester on py-evm) served over JSON-RPC on 127.0.0.1.

``python -m hftplatform.devchain --state-file PATH`` binds 127.0.0.1:8545 when that port is free, any free port
otherwise, writes ``{"url", "host", "port", "chain_id", "pid"}`` to ``PATH`` once it is listening, and serves until
SIGTERM / SIGINT. Chain ID 31337 (the usual local-chain ID, so a browser wallet shows it as such). Each
transaction is mined at once; ``--block-time N`` also mines an empty block every N seconds so deposits collect
confirmations as on a real chain. Batch requests are answered in order. Web pages may call it only from the
origins given with ``--allowed-origin`` (the demo passes the site's); browser wallets and clients sending no Origin
always. The state lives in memory only: a restart
begins from genesis again.

web3's ``EthereumTesterProvider`` answers requests in eth-tester's own shapes (snake_case keys, Python ints); the
provider's own middleware maps them to the JSON-RPC names and this module turns numbers into JSON-RPC quantities,
so any client (web3.py over HTTP, a browser wallet) sees a node.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hftplatform.core.private_files import private_dir_create

CHAIN_ID = 31337
PREFERRED_PORT = 8545
HOST = "127.0.0.1"
MAX_BODY_BYTES = 5 * 1024 * 1024
_BLOOM_KEYS = frozenset({"logsBloom"})  # fixed-size DATA, not a quantity
_DECIMAL_STRING_METHODS = frozenset({"net_version"})  # answered as a decimal string, not a hex quantity


def _wire(value: Any, key: str | None = None) -> Any:
    """eth-tester's result as JSON-RPC: ints as ``0x`` quantities (a bloom as 256 bytes), bytes as ``0x`` data."""
    if isinstance(value, bool) or value is None or isinstance(value, float | str):
        return value
    if isinstance(value, int):
        return "0x" + value.to_bytes(256, "big").hex() if key in _BLOOM_KEYS else hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {name: _wire(item, name) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(item) for item in value]
    return value


class DevChain:
    """An eth-tester chain with chain ID ``chain_id`` answering JSON-RPC payloads (one request or a batch)."""

    def __init__(self, chain_id: int = CHAIN_ID) -> None:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider, Web3
        from web3.providers.eth_tester.defaults import API_ENDPOINTS

        backend = PyEVMBackend()
        # The chain class is made per backend: its chain ID is what the EVM's CHAINID opcode and the signature
        # checks of typed transactions use, so EIP-712 domains (Safe's) and eth_chainId agree.
        type(backend.chain).chain_id = chain_id
        self.chain_id = chain_id
        self.tester = EthereumTester(backend)
        endpoints = {namespace: dict(methods) for namespace, methods in API_ENDPOINTS.items()}
        endpoints["eth"]["chainId"] = lambda *_: chain_id
        endpoints["net"]["version"] = lambda *_: str(chain_id)
        self.provider = EthereumTesterProvider(self.tester, api_endpoints=endpoints)
        w3 = Web3(self.provider, middleware=[])
        self._request: Callable[..., Any] = self.provider.request_func(w3, w3.middleware_onion)
        self._lock = threading.Lock()  # eth-tester is not thread-safe: one request at a time

    def answer(self, payload: Any) -> Any:
        """The JSON-RPC response to ``payload`` (a list for a batch; None for an empty batch)."""
        if isinstance(payload, list):
            return [self._answer_one(request) for request in payload] if payload else None
        return self._answer_one(payload)

    def mine(self, blocks: int = 1) -> None:
        with self._lock:
            self.tester.mine_blocks(blocks)

    def _answer_one(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error(None, -32600, "invalid request: an object with a method is expected")
        request_id, method = request.get("id"), request["method"]
        params = request.get("params", [])
        from eth_tester.exceptions import TransactionFailed

        try:
            with self._lock:
                response = self._request(method, params)
        except TransactionFailed as error:
            return _error(request_id, 3, str(error))
        except Exception as error:
            return _error(request_id, -32000, f"{type(error).__name__}: {error}")
        if "error" in response:
            return {"jsonrpc": "2.0", "id": request_id, "error": response["error"]}
        result = response.get("result")
        if method in _DECIMAL_STRING_METHODS:
            return {"jsonrpc": "2.0", "id": request_id, "result": str(result)}
        return {"jsonrpc": "2.0", "id": request_id, "result": _wire(result)}


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


# Browser wallets call the node from their extension's origin; no web page can claim one, and CORS does not bind
# extensions (they hold host permissions), so they are served without CORS headers.
_EXTENSION_SCHEMES = ("chrome-extension://", "moz-extension://", "safari-web-extension://")


class _Handler(BaseHTTPRequestHandler):
    chain: DevChain  # set on the subclass made by devchain_server
    allowed_origins: frozenset[str] = frozenset()  # web origins answered with CORS: the site's own

    def _origin_refused(self) -> bool:
        """Refuse (403) a request from a web origin other than the site's. The faucet account is unlocked, and a
        ``text/plain`` POST from any page reaches us without a preflight: CORS alone would not stop it running."""
        origin = self.headers.get("Origin")
        if origin is None or origin in self.allowed_origins or origin.startswith(_EXTENSION_SCHEMES):
            return False
        self._reply(403, _error(None, -32000, f"origin {origin} is not allowed"))
        return True

    def do_OPTIONS(self) -> None:
        if self._origin_refused():
            return
        self.send_response(204)
        self._cors()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        if self._origin_refused():
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(413, _error(None, -32600, "request too large"))
            return
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self._reply(200, _error(None, -32700, "parse error"))
            return
        self._reply(200, self.chain.answer(payload))

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _cors(self) -> None:
        origin = self.headers.get("Origin")
        if origin is None or origin not in self.allowed_origins:
            return
        self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Vary", "Origin")
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per RPC call would drown the demo's output


def _bind(host: str, port: int) -> ThreadingHTTPServer:
    """A server on ``host:port``, or on a free port the system picks when that one is taken (never a shared one)."""
    for candidate in (port, 0):
        try:
            return ThreadingHTTPServer((host, candidate), _Handler)
        except OSError:
            if candidate == 0:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def devchain_server(
    chain: DevChain, *, host: str = HOST, port: int = PREFERRED_PORT, allowed_origins: Sequence[str] = ()
) -> ThreadingHTTPServer:
    """An HTTP JSON-RPC server for ``chain`` bound on ``host`` (``port`` if free), not yet serving. Web pages may call
    it only from ``allowed_origins`` (the site's, e.g. ``http://127.0.0.1:8000``); browser wallets and clients that
    send no Origin always."""
    handler = type(
        "DevChainHandler",
        (_Handler,),
        {"chain": chain, "allowed_origins": frozenset(o.rstrip("/") for o in allowed_origins)},
    )
    server = _bind(host, port)
    server.RequestHandlerClass = handler
    server.daemon_threads = True
    return server


def state_write(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` as JSON atomically (a reader never sees half a file)."""
    private_dir_create(path.parent)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(state, handle, indent=2)
    os.replace(handle.name, path)


def _block_timer(chain: DevChain, seconds: float, stop: threading.Event) -> None:
    while not stop.wait(seconds):
        chain.mine(1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=PREFERRED_PORT, help="used if free; any free port otherwise")
    parser.add_argument("--chain-id", type=int, default=CHAIN_ID)
    parser.add_argument("--block-time", type=float, default=0, help="mine an empty block every N seconds (0: off)")
    parser.add_argument("--state-file", type=Path, required=True, help="where to write the URL, port and chain ID")
    parser.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        help="a web origin whose pages may call the node (the site's: http://127.0.0.1:8000); repeatable",
    )
    options = parser.parse_args(argv)
    chain = DevChain(options.chain_id)
    server = devchain_server(chain, host=options.host, port=options.port, allowed_origins=options.allowed_origin)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    url = f"http://{host}:{port}"
    stop = threading.Event()

    def shutdown(signum: int, frame: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    if options.block_time > 0:
        threading.Thread(target=_block_timer, args=(chain, options.block_time, stop), daemon=True).start()
    state = {"url": url, "host": host, "port": port, "chain_id": chain.chain_id, "pid": os.getpid()}
    state_write(options.state_file, state)
    print(f"dev chain {chain.chain_id} listening on {url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
