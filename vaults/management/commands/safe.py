"""``manage.py safe tx-hash ...``: print a Safe transaction's ``safeTxHash`` so anyone can check what they sign.

The arguments and their parsing live in :mod:`vaults.custody.cli` (usable without Django too).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from vaults.custody.cli import main


class Command(BaseCommand):
    help = "Safe tools: tx-hash (the EIP-712 safeTxHash of a SafeTx; every field an option, gas fields default 0)."

    def run_from_argv(self, argv: list[str]) -> None:
        raise SystemExit(main(argv[2:]))
