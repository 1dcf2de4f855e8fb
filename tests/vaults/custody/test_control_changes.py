"""Control changes announced on the vault's public page: the Safe call decoded (function and arguments), when it
was announced, the earliest execution (announced + 72 h) and its state, for live and recently closed proposals;
visible signed out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address

from tests.vaults.custody.conftest import Custody
from vaults.custody import services as cs
from vaults.custody.calls import (
    SAFE_CONTROL_FUNCTIONS,
    SafeControlCall,
    erc20_transfer_data,
    function_selector,
    safe_control_call_decode,
)
from vaults.custody.selectors import vault_control_changes
from vaults.models import SafeProposal

A = "0x" + "a1" * 20
B = "0x" + "b2" * 20
SENTINEL = "0x0000000000000000000000000000000000000001"  # the Safe's linked-list head


def call(signature: str, *values: object) -> bytes:
    types = signature[signature.index("(") + 1 : -1].split(",")
    return function_selector(signature) + abi_encode(types, list(values))


# -- the decoder (pure) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signature", "values", "expected"),
    [
        ("addOwnerWithThreshold(address,uint256)", (A, 3),
         ("addOwnerWithThreshold", (("owner", A), ("_threshold", "3")))),
        ("removeOwner(address,address,uint256)", (SENTINEL, B, 2),
         ("removeOwner", (("prevOwner", SENTINEL), ("owner", B), ("_threshold", "2")))),
        ("swapOwner(address,address,address)", (SENTINEL, A, B),
         ("swapOwner", (("prevOwner", SENTINEL), ("oldOwner", A), ("newOwner", B)))),
        ("changeThreshold(uint256)", (3,), ("changeThreshold", (("_threshold", "3"),))),
        ("enableModule(address)", (A,), ("enableModule", (("module", A),))),
        ("disableModule(address,address)", (SENTINEL, A), ("disableModule", (("prevModule", SENTINEL), ("module", A)))),
        ("setGuard(address)", (B,), ("setGuard", (("guard", B),))),
        ("setFallbackHandler(address)", (B,), ("setFallbackHandler", (("handler", B),))),
    ],
)  # fmt: skip
def test_every_control_function_decodes_with_its_arguments(
    signature: str, values: tuple[object, ...], expected: tuple[str, tuple[tuple[str, str], ...]]
) -> None:
    function, arguments = expected
    checksummed = tuple((name, to_checksum_address(v) if v.startswith("0x") else v) for name, v in arguments)

    assert safe_control_call_decode(call(signature, *values)) == SafeControlCall(function, checksummed)


def test_other_calls_and_malformed_data_do_not_decode() -> None:
    assert len(SAFE_CONTROL_FUNCTIONS) == 8
    threshold = call("changeThreshold(uint256)", 3)
    assert safe_control_call_decode(threshold + b"\0" * 32) is None  # trailing bytes
    assert safe_control_call_decode(threshold[:-1]) is None  # short
    assert safe_control_call_decode(erc20_transfer_data(A, 5)) is None
    assert safe_control_call_decode(b"") is None
    bad_address = function_selector("setGuard(address)") + b"\xff" * 32  # high bytes set: not an address
    assert safe_control_call_decode(bad_address) is None


# -- the public page ----------------------------------------------------------------------------------------------

ANNOUNCED = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def propose_control(c: Custody, data: bytes, now: datetime = ANNOUNCED) -> SafeProposal:
    return cs.operation_proposal_create(
        vault_id=c.vault.pk, kind="control_change", to=c.evm.safe, data=data, proposer_id=c.operators[0].pk,
        now=now, w3=c.evm.w3,
    )  # fmt: skip


@pytest.mark.django_db
def test_a_signed_out_visitor_sees_the_announced_control_changes(custody: Custody) -> None:
    c = custody
    new_owner = "0x" + "c3" * 20
    threshold = propose_control(c, call("changeThreshold(uint256)", 3))
    swap = propose_control(c, call("swapOwner(address,address,address)", SENTINEL, c.evm.recovery.address, new_owner))
    fee = cs.operation_proposal_create(
        vault_id=c.vault.pk, kind="fee_collection", to=c.evm.token, data=erc20_transfer_data(c.evm.recovery.address, 5),
        proposer_id=c.operators[0].pk, w3=c.evm.w3,
    )  # fmt: skip
    cs.operator_approval_add(proposal_id=threshold.pk, operator_id=c.operators[1].pk, approve=True)

    page = Client().get(reverse("vault_detail", args=[c.vault.slug]))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Control changes of the vault's Safe" in html and c.safe.address in html
    rows = {change.proposal_id: change for change in vault_control_changes(vault_id=c.vault.pk, now=ANNOUNCED)}
    assert list(rows) == [swap.pk, threshold.pk]  # newest first; the fee collection is no control change
    assert f'data-proposal="{fee.pk}"' not in html
    assert f'<tr data-proposal="{threshold.pk}">' in html
    assert "changeThreshold(_threshold=3)" in html
    assert (
        f"swapOwner(prevOwner={SENTINEL}, oldOwner={c.evm.recovery.address}, newOwner={to_checksum_address(new_owner)})"
        in html
    )
    assert html.count("<td>2026-03-01 12:30</td>") == 2  # announced
    assert html.count("<td>2026-03-04 12:30</td>") == 2  # earliest execution: 72 h later
    assert rows[threshold.pk].executable_from == ANNOUNCED + timedelta(hours=72)
    assert html.count("Proposed: waiting for authorisation") == 2  # one approval of two: still proposed


@pytest.mark.django_db
def test_closed_changes_stay_listed_for_30_days(custody: Custody) -> None:
    c = custody
    old = propose_control(c, call("setGuard(address)", A))
    cs.proposal_cancel(proposal_id=old.pk, user_id=c.operators[0].pk, now=ANNOUNCED)
    recent = propose_control(c, call("enableModule(address)", B), now=ANNOUNCED + timedelta(days=20))
    cs.proposal_cancel(proposal_id=recent.pk, user_id=c.operators[1].pk, now=ANNOUNCED + timedelta(days=20))

    listed = vault_control_changes(vault_id=c.vault.pk, now=ANNOUNCED + timedelta(days=31))

    assert [(change.proposal_id, change.state) for change in listed] == [(recent.pk, "cancelled")]
    assert listed[0].closed_at == ANNOUNCED + timedelta(days=20)
    assert [change.proposal_id for change in vault_control_changes(vault_id=c.vault.pk, now=ANNOUNCED)] == [
        recent.pk,
        old.pk,
    ]
