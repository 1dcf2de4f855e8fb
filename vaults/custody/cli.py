"""``safe`` command line: ``safe tx-hash`` prints the ``safeTxHash`` of a Safe transaction, so anyone can check
what they are asked to sign.

Kept free of Django so it runs anywhere; the management command ``manage.py safe`` only forwards its arguments::

    class Command(BaseCommand):
        def run_from_argv(self, argv: list[str]) -> None:
            raise SystemExit(main(argv[2:]))
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from typing import TextIO

from vaults.custody.safe_tx import ZERO_ADDRESS, SafeTx, SafeTxError, safe_tx_hash


def _uint(text: str) -> int:
    """A non-negative decimal or 0x-hex integer (wei amounts are exact integers, never floats)."""
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _hex_bytes(text: str) -> bytes:
    if not text.lower().startswith("0x"):
        raise argparse.ArgumentTypeError(f"hex data must start with 0x: {text!r}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an even-length hex string: {text!r}") from None


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="safe", description="Safe (v1.4.1) transaction tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    tx_hash = commands.add_parser(
        "tx-hash",
        help="print the safeTxHash (EIP-712) of a Safe transaction",
        description="Prints the safeTxHash that owners sign and the Safe's getTransactionHash returns. "
        "Amounts are integers in base units (wei); gas fields default to 0.",
    )
    tx_hash.add_argument("--chain-id", type=_uint, required=True, help="EIP-155 chain id (1 = Ethereum mainnet)")
    tx_hash.add_argument("--safe", required=True, help="the Safe (proxy) address: the EIP-712 verifying contract")
    tx_hash.add_argument("--to", required=True, help="target address")
    tx_hash.add_argument("--value", type=_uint, default=0, help="native value in wei (default 0)")
    tx_hash.add_argument("--data", type=_hex_bytes, default=b"", help="call data as 0x-hex (default 0x)")
    tx_hash.add_argument("--operation", type=int, choices=(0, 1), default=0, help="0 CALL, 1 DELEGATECALL")
    tx_hash.add_argument("--nonce", type=_uint, required=True, help="the Safe nonce this transaction is for")
    tx_hash.add_argument("--safe-tx-gas", type=_uint, default=0, help="safeTxGas (default 0)")
    tx_hash.add_argument("--base-gas", type=_uint, default=0, help="baseGas (default 0)")
    tx_hash.add_argument("--gas-price", type=_uint, default=0, help="gasPrice for the refund (default 0: no refund)")
    tx_hash.add_argument("--gas-token", default=ZERO_ADDRESS, help="refund token (default 0x0: ether)")
    tx_hash.add_argument("--refund-receiver", default=ZERO_ADDRESS, help="refund receiver (default 0x0: tx.origin)")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``safe <command> ...``; returns the exit status (0 success, 2 bad input)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = parser_build()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exit_:  # argparse has printed the usage error (status 2) or --help (status 0)
        return int(exit_.code or 0)
    try:
        tx = SafeTx(
            to=args.to,
            value=args.value,
            data=args.data,
            operation=args.operation,
            nonce=args.nonce,
            safe_tx_gas=args.safe_tx_gas,
            base_gas=args.base_gas,
            gas_price=args.gas_price,
            gas_token=args.gas_token,
            refund_receiver=args.refund_receiver,
        )
        digest = safe_tx_hash(args.chain_id, args.safe, tx)
    except SafeTxError as error:
        print(f"safe tx-hash: {error}", file=err)
        return 2
    print("0x" + digest.hex(), file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
