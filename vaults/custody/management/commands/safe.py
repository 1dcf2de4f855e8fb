"""``manage.py safe ...``: Safe custody tools.

- ``safe tx-hash ...`` prints a Safe transaction's ``safeTxHash`` so anyone can check what they sign (arguments and
  parsing in :mod:`vaults.custody.cli`, usable without Django too);
- ``safe sign --proposal ID --key-file PATH``: an operator signs a proposal's safeTxHash with an owner key read from a
  file outside the repository; the hash is recomputed from the stored fields (a stored hash that differs is
  refused) and the decoded call is printed first; the signature goes through ``owner_signature_add`` (every rule
  applies);
- ``safe execute --proposal ID``: execute a signed proposal with the relayer key (``HFT_SAFE_RELAYER_KEY``); safe to
  run again (it resumes a submitted one, never sends twice).
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
from vaults.models import SafeProposal

CUSTODY_COMMANDS = ("sign", "execute")


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
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
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


class Command(BaseCommand):
    help = (
        "Safe tools: tx-hash (the EIP-712 safeTxHash of a SafeTx; every field an option, gas fields default 0), "
        "sign --proposal ID --key-file PATH, execute --proposal ID."
    )

    def run_from_argv(self, argv: list[str]) -> None:
        if len(argv) > 2 and argv[2] in CUSTODY_COMMANDS:
            raise SystemExit(custody_main(argv[2:], stdout=sys.stdout, stderr=sys.stderr))
        raise SystemExit(main(argv[2:]))
