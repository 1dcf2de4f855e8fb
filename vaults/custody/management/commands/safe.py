"""``manage.py safe ...``: Safe custody tools.

- ``safe tx-hash ...`` prints a Safe transaction's ``safeTxHash`` so anyone can check what they sign (arguments and
  parsing in :mod:`vaults.custody.cli`, usable without Django too);
- ``safe sign --proposal ID --key-file PATH``: an operator signs a proposal's safeTxHash with an owner key read from a
  file outside the repository; the hash is recomputed from the stored fields (a stored hash that differs is
  refused) and the decoded call is printed first; the signature goes through ``owner_signature_add`` (every rule
  applies);
- ``safe execute --proposal ID``: execute a signed proposal with the relayer key (``HFT_SAFE_RELAYER_KEY``); safe to
  run again (it resumes a submitted one, never sends twice);
- ``safe reconcile [--vault SLUG]``: for every vault with a Safe (or one), the books (cash, reserved payouts,
  uncredited transfers) against the Safe's balance on chain, in base units; exit status 1 if any differs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from django.conf import settings
from django.core.management.base import BaseCommand

from vaults.custody import selectors, services
from vaults.custody.cli import main
from vaults.custody.errors import CustodyError
from vaults.custody.safe_tx import hash_sign
from vaults.models import SafeProposal, VaultSafe

CUSTODY_COMMANDS = ("sign", "execute", "reconcile")


def _key_read(path_text: str) -> bytes:
    path = Path(path_text).expanduser().resolve()
    repository = Path(settings.BASE_DIR).resolve()
    if path == repository or repository in path.parents:
        raise ValueError(f"{path} is inside the repository: keep owner keys outside it")
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise ValueError(f"{path} does not hold a hex private key") from None
    if len(key) != 32:
        raise ValueError(f"{path} does not hold a 32-byte private key")
    return key


def custody_main(argv: Sequence[str], *, stdout: TextIO, stderr: TextIO) -> int:
    """Run ``safe sign|execute ...``; 0 done, 1 refused by the custody rules, 2 bad input."""
    parser = argparse.ArgumentParser(prog="safe", description="Safe custody: sign and execute proposals.")
    commands = parser.add_subparsers(dest="command", required=True)
    sign = commands.add_parser("sign", help="sign a proposal's safeTxHash with an owner key from a file")
    sign.add_argument("--proposal", type=int, required=True)
    sign.add_argument("--key-file", required=True, help="a file outside the repository holding the 0x-hex key")
    execute = commands.add_parser("execute", help="execute a signed proposal (relayer key HFT_SAFE_RELAYER_KEY)")
    execute.add_argument("--proposal", type=int, required=True)
    reconcile = commands.add_parser("reconcile", help="the books against each vault Safe's balance on chain")
    reconcile.add_argument("--vault", help="one vault's slug (default: every vault with a Safe)")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.command == "reconcile":
        return _reconcile(args.vault, stdout=stdout, stderr=stderr)
    proposal = SafeProposal.objects.filter(pk=args.proposal).first()
    if proposal is None:
        print(f"safe {args.command}: no proposal {args.proposal}", file=stderr)
        return 2
    try:
        if args.command == "sign":
            # What is signed is the hash of the stored fields, recomputed here, and what it does is shown first:
            # never a stored hash taken on trust.
            digest = selectors.proposal_safe_tx_hash_verified(proposal)
            safe = proposal.safe
            print(
                f"proposal {proposal.pk} ({proposal.get_kind_display()}), Safe {safe.address} on chain "
                f"{safe.chain_id}, nonce {int(proposal.nonce)}:\n  {selectors.proposal_call_text(proposal)}\n"
                f"  safeTxHash 0x{digest.hex()} (recomputed from the stored fields)",
                file=stdout,
            )
            try:
                key = _key_read(args.key_file)
            except (OSError, ValueError) as error:
                print(f"safe sign: {error}", file=stderr)
                return 2
            signature = hash_sign(digest, key)
            proposal = services.owner_signature_add(proposal_id=proposal.pk, signature="0x" + signature.hex())
            print(f"proposal {proposal.pk}: signed {proposal.safe_tx_hash}; now {proposal.state}", file=stdout)
        else:
            proposal = services.proposal_execute(proposal_id=proposal.pk, sender=services.relayer_account())
            detail = f" ({proposal.state_code}: {proposal.state_reason})" if proposal.state_code else ""
            print(f"proposal {proposal.pk}: {proposal.state}{detail} tx {proposal.submission_tx_hash}", file=stdout)
    except CustodyError as error:
        print(f"safe {args.command}: {error.code}: {error.message}", file=stderr)
        return 1
    return 0


def _reconcile(slug: str | None, *, stdout: TextIO, stderr: TextIO) -> int:
    """Print each reconciliation; 0 all match, 1 one differs (or has a transfer in flight), 2 a bad vault."""
    try:
        if slug is None:
            results = services.safes_books_reconcile()
        else:
            safe = VaultSafe.objects.filter(vault__slug=slug).first()
            if safe is None:
                print(f"safe reconcile: no vault {slug!r} with a Safe", file=stderr)
                return 2
            results = [services.safe_books_reconcile(vault_id=safe.vault_id)]
    except CustodyError as error:
        print(f"safe reconcile: {error.code}: {error.message}", file=stderr)
        return 1
    status = 0
    for r in results:
        verdict = "matches" if r.matches and not r.in_flight else "DIFFERS"
        if verdict != "matches":
            status = 1
        lines = [
            f"vault {r.vault_slug}: Safe {r.safe} on chain {r.chain_id}, token {r.token}, block {r.block_number}"
            f" (deposits scanned to {r.scanned_to})",
            f"  book cash             {r.book_cash}",
            f"  reserved payouts      {r.reserved_payouts}",
            f"  uncredited transfers  {r.uncredited_transfers}",
            f"  books total           {r.book_total}",
            f"  balance on chain      {r.onchain_balance}",
            f"  difference            {r.difference}  {verdict}",
        ]
        if r.in_flight:
            lines.append("  submitted, outcome not recorded: proposals " + ", ".join(map(str, r.in_flight)))
        print("\n".join(lines), file=stdout)
    return status


class Command(BaseCommand):
    help = (
        "Safe tools: tx-hash (the EIP-712 safeTxHash of a SafeTx; every field an option, gas fields default 0), "
        "sign --proposal ID --key-file PATH, execute --proposal ID, reconcile [--vault SLUG]."
    )

    def run_from_argv(self, argv: list[str]) -> None:
        if len(argv) > 2 and argv[2] in CUSTODY_COMMANDS:
            raise SystemExit(custody_main(argv[2:], stdout=sys.stdout, stderr=sys.stderr))
        raise SystemExit(main(argv[2:]))
