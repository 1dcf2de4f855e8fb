"""``manage.py safe sign`` / ``safe execute``: an operator signs a proposal with an owner key from a file outside
the repository (through the service: every rule applies), and the relayer executes it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from eth_account import Account

from tests.vaults.custody.conftest import VAULT_FUNDS, Custody
from tests.vaults.custody.test_custody_services import PAYOUT, assert_untouched, authorise, propose
from vaults.custody.calls import erc20_transfer_data
from vaults.custody.management.commands.safe import custody_main
from vaults.custody.safe_tx import SafeTx, safe_tx_hash
from vaults.models import ProposalSignature, SafeProposal

pytestmark = pytest.mark.django_db(transaction=True)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = custody_main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_sign_with_a_key_file_then_execute(custody: Custody, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    c = custody
    proposal = authorise(c, propose(c))
    key_file = tmp_path / "operator.key"
    key_file.write_text("0x" + c.evm.operators[0].key.hex() + "\n")
    stranger_file = tmp_path / "stranger.key"
    stranger_file.write_text("0x" + Account.create().key.hex())

    assert run("sign", "--proposal", str(proposal.pk), "--key-file", str(stranger_file))[0] == 1
    code, out, err = run("sign", "--proposal", str(proposal.pk), "--key-file", str(key_file))
    assert code == 0, err
    assert "now signed" in out
    assert SafeProposal.objects.get(pk=proposal.pk).state == "signed"

    settings.HFT_SAFE_RELAYER_KEY = "0x" + c.evm.deployer.key.hex()
    code, out, err = run("execute", "--proposal", str(proposal.pk))
    assert code == 0, err
    assert out.startswith(f"proposal {proposal.pk}: executed")
    assert c.evm.balance(c.wallet_a.address) == PAYOUT
    assert run("execute", "--proposal", str(proposal.pk))[0] == 0  # again: nothing more is sent
    assert c.evm.balance(c.wallet_a.address) == PAYOUT


def test_a_key_file_inside_the_repository_is_refused(custody: Custody) -> None:
    c = custody
    proposal = authorise(c, propose(c))
    inside = Path(django_settings.BASE_DIR) / "operator.key"  # never written: refused before reading
    code, _, err = run("sign", "--proposal", str(proposal.pk), "--key-file", str(inside))
    assert code == 2 and "inside the repository" in err
    assert run("execute", "--proposal", "999999")[0] == 2
    assert SafeProposal.objects.get(pk=proposal.pk).state == "authorised"


def _signatures(proposal_id: int) -> list[tuple[str, str]]:
    return list(ProposalSignature.objects.filter(proposal_id=proposal_id).order_by("pk").values_list("kind", "signer"))


def test_sign_prints_the_decoded_call_and_the_recomputed_hash_before_signing(custody: Custody, tmp_path: Path) -> None:
    c = custody
    proposal = authorise(c, propose(c))
    key_file = tmp_path / "operator.key"
    key_file.write_text("0x" + c.evm.operators[0].key.hex())

    code, out, err = run("sign", "--proposal", str(proposal.pk), "--key-file", str(key_file))

    assert code == 0, err
    assert out == (
        f"proposal {proposal.pk} (Withdrawal to a linked wallet), Safe {c.evm.safe} on chain "
        f"{c.evm.chain_id}, nonce 0:\n"
        f"  transfer(recipient={c.wallet_a.address}, amount={PAYOUT}) on {c.evm.token}\n"
        f"  safeTxHash {proposal.safe_tx_hash} (recomputed from the stored fields)\n"
        f"proposal {proposal.pk}: signed {proposal.safe_tx_hash}; now signed\n"
    )


@pytest.mark.parametrize("tampered", ["hash", "fields"])
def test_sign_refuses_a_stored_hash_that_is_not_the_hash_of_the_stored_fields(
    custody: Custody, tmp_path: Path, tampered: str
) -> None:
    # Given an authorised withdrawal proposal whose row was altered behind the services' back: either its stored
    # safeTxHash is that of a transfer of the whole Safe to an attacker, or its fields shown to the operator
    # were swapped for a harmless-looking call while the stored hash still is the real transfer's
    c = custody
    proposal = authorise(c, propose(c))
    attacker = Account.create().address
    drain = SafeTx(to=c.evm.token, value=0, data=erc20_transfer_data(attacker, VAULT_FUNDS), operation=0, nonce=0)
    if tampered == "hash":
        changes = {"safe_tx_hash": "0x" + safe_tx_hash(c.evm.chain_id, c.evm.safe, drain).hex()}
    else:
        changes = {"data": "0x" + erc20_transfer_data(c.wallet_a.address, 1).hex()}
    SafeProposal.objects.filter(pk=proposal.pk).update(**changes)
    before = _signatures(proposal.pk)
    key_file = tmp_path / "operator.key"
    key_file.write_text("0x" + c.evm.operators[0].key.hex())

    # When the operator runs safe sign on it
    code, out, err = run("sign", "--proposal", str(proposal.pk), "--key-file", str(key_file))

    # Then it refuses (exit 1) before printing a call to sign, adds no signature, and no token moves
    assert (code, out) == (1, "")
    assert err.startswith(f"safe sign: safe_tx_hash_mismatch: proposal {proposal.pk}: the stored safeTxHash ")
    assert err.rstrip().endswith("nothing is signed")
    assert _signatures(proposal.pk) == before
    assert SafeProposal.objects.get(pk=proposal.pk).state == "authorised"
    assert_untouched(c, attacker, c.wallet_a.address)
