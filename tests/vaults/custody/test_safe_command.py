"""``manage.py safe tx-hash``: the Django command prints what the custody core computes, and refuses bad input."""

from __future__ import annotations

import subprocess
import sys

from vaults.custody.safe_tx import SafeTx, safe_tx_hash

SAFE = "0x5aFE3855358E112B5647B952709E6165e1c1eEEe"
TO = "0x00000000000000000000000000000000000000A1"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "safe", "tx-hash", *args], capture_output=True, text=True, check=False
    )


def test_tx_hash_prints_the_safe_tx_hash():
    result = run("--chain-id", "1", "--safe", SAFE, "--to", TO, "--value", "5", "--data", "0xa9059cbb",
                 "--operation", "0", "--nonce", "7")  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = safe_tx_hash(1, SAFE, SafeTx(to=TO, value=5, data=bytes.fromhex("a9059cbb"), operation=0, nonce=7))
    assert result.stdout.strip() == "0x" + expected.hex()


def test_bad_input_prints_no_hash_and_fails():
    result = run("--chain-id", "1", "--safe", "0xnot-an-address", "--to", TO, "--nonce", "0")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "safe" in result.stderr
