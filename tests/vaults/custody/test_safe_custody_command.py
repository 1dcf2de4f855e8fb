"""``manage.py safe sign`` / ``safe execute``: an operator signs a proposal with an owner key from a file outside
the repository (through the service: every rule applies), and the relayer executes it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from eth_account import Account

from tests.vaults.custody.conftest import Custody
from tests.vaults.custody.test_custody_services import PAYOUT, authorise, propose
from vaults.custody.management.commands.safe import custody_main
from vaults.models import SafeProposal

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
