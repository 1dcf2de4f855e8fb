"""Every rule of the policy table, allowed and refused (pure: no chain)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address

from vaults.custody.call_policy import CallPolicy, CallUsage, ContractGrant, Protocol
from vaults.custody.calls import contract_call_data, erc20_transfer_data, function_selector
from vaults.custody.policy import (
    POLICY_TABLE,
    DestinationRegistration,
    Operation,
    OperationKind,
    PolicyContext,
    policy_evaluate,
    policy_table_markdown,
)
from vaults.custody.safe_tx import SafeTx
from vaults.custody.withdrawal_request import (
    Authorisation,
    WithdrawalRequest,
    withdrawal_authorisation_check,
    withdrawal_request_sign,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SAFE = "0x1234567890123456789012345678901234567890"
ASSET = "0xaBCdEf0000000000000000000000000000000001"
ROUTER = to_checksum_address("0x000000000000000000000000000000000000beef")
FEES = to_checksum_address("0x00000000000000000000000000000000000fee00")
OTHER = to_checksum_address("0x0000000000000000000000000000000000000077")
SWAP = function_selector("swapExactTokensForTokens(uint256,uint256,address[],address,uint256)")
UNWIND = function_selector("withdraw(address,uint256,address)")
CHANGE_THRESHOLD = function_selector("changeThreshold(uint256)")
THREE = (3).to_bytes(32, "big")
ZERO = "0x0000000000000000000000000000000000000000"
OTHER = to_checksum_address("0x00000000000000000000000000000000000a77ac")
WALLET_A, WALLET_B, STRANGER = Account.create(), Account.create(), Account.create()
LINKED = frozenset({WALLET_A.address, WALLET_B.address})


def authorised(destination: str, amount: int = 100, signers: tuple = (WALLET_A, WALLET_B)) -> Authorisation:  # type: ignore[type-arg]
    request = WithdrawalRequest(
        vault=SAFE, depositor=7, shares=0, amount=amount, destination=destination, nonce=1,
        deadline=int((NOW + timedelta(hours=1)).timestamp()), chain_id=1,
    )  # fmt: skip
    signatures = [withdrawal_request_sign(request, wallet.key) for wallet in signers]
    result = withdrawal_authorisation_check(request, signatures, LINKED, NOW, set(), chain_id=1, vault=SAFE)
    assert isinstance(result, Authorisation)
    return result


def operation(kind: OperationKind, to: str, data: bytes, **fields: int) -> Operation:
    """``kind`` over a CALL of ``to`` with ``data`` at Safe nonce 4; ``fields`` override SafeTx fields."""
    values: dict[str, object] = {"to": to, "value": 0, "data": data, "operation": 0, "nonce": 4} | fields
    return Operation(kind=kind, chain_id=1, safe=SAFE, tx=SafeTx(**values))  # type: ignore[arg-type]


def codes(op: Operation, context: PolicyContext) -> list[str]:
    decision = policy_evaluate(op, context)
    assert decision.allowed is (not decision.reasons)
    return [reason.code for reason in decision.reasons]


class TestWithdrawalToLinkedWallet:
    kind = OperationKind.WITHDRAWAL_TO_LINKED_WALLET

    def context(self, **fields: object) -> PolicyContext:
        values: dict[str, object] = {
            "now": NOW, "asset": ASSET, "authorisation": authorised(WALLET_A.address), "linked_wallets": LINKED,
            "payout": 100,
        } | fields  # fmt: skip
        return PolicyContext(**values)  # type: ignore[arg-type]

    def test_allowed(self) -> None:
        decision = policy_evaluate(
            operation(self.kind, ASSET, erc20_transfer_data(WALLET_A.address, 100)), self.context()
        )
        assert (decision.allowed, decision.reasons) == (True, ())
        assert decision.message == "allowed by the policy for withdrawal to one of the depositor's linked wallets"

    def test_amount_above_payout(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(WALLET_A.address, 100))
        assert codes(op, self.context(payout=99)) == ["amount_above_payout"]
        assert codes(op, self.context(payout=None)) == ["payout_unknown"]

    def test_no_depositor_signatures(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(WALLET_A.address, 100))
        decision = policy_evaluate(op, self.context(authorisation=None))
        assert [r.code for r in decision.reasons] == ["depositor_signatures"]
        assert "refused by the policy for withdrawal to one of the depositor's linked wallets" in decision.message

    def test_wallet_unlinked_since_signing(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(WALLET_A.address, 100))
        assert codes(op, self.context(linked_wallets=frozenset({WALLET_A.address}))) == ["depositor_signatures"]

    def test_destination_not_linked(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(STRANGER.address, 100))
        context = self.context(authorisation=authorised(STRANGER.address))
        decision = policy_evaluate(op, context)
        assert [r.code for r in decision.reasons] == ["destination_not_linked"]
        assert STRANGER.address in decision.reasons[0].message

    def test_transfer_to_someone_else_than_signed(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(WALLET_B.address, 100))
        assert codes(op, self.context()) == ["destination_mismatch"]

    def test_amount_above_the_signed_amount(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(WALLET_A.address, 100))
        assert codes(op, self.context(authorisation=authorised(WALLET_A.address, amount=60))) == [
            "amount_above_request"
        ]

    def test_wrong_token_or_call(self) -> None:
        assert codes(operation(self.kind, OTHER, erc20_transfer_data(WALLET_A.address, 1)), self.context()) == [
            "not_asset"
        ]
        approve = function_selector("approve(address,uint256)") + erc20_transfer_data(WALLET_A.address, 1)[4:]
        assert codes(operation(self.kind, ASSET, approve), self.context()) == ["not_transfer"]
        trailing = erc20_transfer_data(WALLET_A.address, 1) + b"\x00"
        assert codes(operation(self.kind, ASSET, trailing), self.context()) == ["not_transfer"]

    @pytest.mark.parametrize(
        ("fields", "code"),
        [({"operation": 1}, "delegatecall"), ({"gas_price": 1}, "gas_refund"), ({"value": 1}, "ether_sent")],
    )
    def test_transaction_shape(self, fields: dict[str, int], code: str) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(WALLET_A.address, 100), **fields)
        assert codes(op, self.context()) == [code]

    @pytest.mark.parametrize(
        ("fields", "code"),
        [({"gas_token": OTHER}, "gas_token_set"), ({"refund_receiver": OTHER}, "refund_receiver_set")],
    )
    def test_a_gas_token_or_refund_receiver_is_refused_even_at_gas_price_zero(
        self, fields: dict[str, str], code: str
    ) -> None:
        # With gasPrice 0 the Safe pays no refund today, but a SafeTx naming who is refunded in what is not one the
        # co-signer has a reason to sign: a refund is a way to pay out of the Safe.
        op = operation(self.kind, ASSET, erc20_transfer_data(WALLET_A.address, 100), **fields)  # type: ignore[arg-type]
        decision = policy_evaluate(op, self.context())
        assert [r.code for r in decision.reasons] == [code]
        assert OTHER in decision.reasons[0].message


class TestWithdrawalToOtherAddress:
    kind = OperationKind.WITHDRAWAL_TO_OTHER_ADDRESS

    def context(self, registered_at: datetime, signers: frozenset[str] = LINKED, **fields: object) -> PolicyContext:
        registration = DestinationRegistration(OTHER, registered_at, signers)
        values: dict[str, object] = {
            "now": NOW, "asset": ASSET, "authorisation": authorised(OTHER), "linked_wallets": LINKED, "payout": 100,
            "registered_destinations": {OTHER: registration},
        } | fields  # fmt: skip
        return PolicyContext(**values)  # type: ignore[arg-type]

    def test_allowed_48_hours_after_registration(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(OTHER, 100))
        assert codes(op, self.context(NOW - timedelta(hours=48))) == []

    def test_refused_before_48_hours(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(OTHER, 100))
        decision = policy_evaluate(op, self.context(NOW - timedelta(hours=47, minutes=59)))
        assert [r.code for r in decision.reasons] == ["destination_too_recent"]
        assert "2025-03-01T12:01:00+00:00" in decision.reasons[0].message

    def test_refused_unregistered_or_registered_by_one_wallet(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(OTHER, 100))
        old = NOW - timedelta(days=10)
        assert codes(op, self.context(old, registered_destinations={})) == ["destination_not_registered"]
        one = frozenset({WALLET_A.address, STRANGER.address})
        assert codes(op, self.context(old, signers=one)) == ["registration_signatures"]

    def test_payout_still_applies(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(OTHER, 100))
        assert codes(op, self.context(NOW - timedelta(days=3), payout=10)) == ["amount_above_payout"]


class TestStrategyTradeAndUnwind:
    """The approvals and the transaction's shape; the conditions on the call itself are tests/vaults/custody/
    test_call_policy.py's."""

    policy = CallPolicy(
        tokens={ASSET: 10**12},
        trade_contracts={ROUTER: ContractGrant(Protocol.AAVE_V3_POOL, frozenset({"supply", "withdraw"}))},
        unwind_contracts={ROUTER: ContractGrant(Protocol.AAVE_V3_POOL, frozenset({"withdraw"}))},
        period=timedelta(days=1),
        max_slippage=Decimal("0.01"),
        value_loss_tolerance=0,
        mark_max_age=timedelta(hours=1),
    )

    def context(self, **fields: object) -> PolicyContext:
        values: dict[str, object] = {
            "now": NOW, "asset": ASSET, "call_policy": self.policy, "operator_approvals": frozenset({"op1"}),
        } | fields  # fmt: skip
        return PolicyContext(**values)  # type: ignore[arg-type]

    def test_trade_allowed_with_one_approval(self) -> None:
        op = operation(
            OperationKind.STRATEGY_TRADE, ROUTER, contract_call_data("aave_v3_pool", "supply", ASSET, 5, SAFE, 0)
        )
        decision = policy_evaluate(op, self.context())
        assert (decision.allowed, decision.usage) == (True, CallUsage(spent={ASSET: 5}, value_loss=0))

    def test_trade_refusals(self) -> None:
        supply = contract_call_data("aave_v3_pool", "supply", ASSET, 5, SAFE, 0)
        context = self.context()
        assert codes(
            operation(OperationKind.STRATEGY_TRADE, ROUTER, supply), replace(context, operator_approvals=frozenset())
        ) == ["operator_approvals"]
        assert codes(operation(OperationKind.STRATEGY_TRADE, OTHER, supply), context) == ["contract_not_whitelisted"]
        assert codes(operation(OperationKind.STRATEGY_TRADE, ROUTER, SWAP), context) == ["selector_not_whitelisted"]
        assert codes(operation(OperationKind.STRATEGY_TRADE, ROUTER, UNWIND), context) == ["call_malformed"]
        assert codes(operation(OperationKind.STRATEGY_TRADE, ROUTER, b""), context) == ["selector_not_whitelisted"]
        # Sending tokens out of the Safe is not a trade, even with an approval.
        assert codes(operation(OperationKind.STRATEGY_TRADE, ASSET, erc20_transfer_data(OTHER, 1)), context) == [
            "recipient_not_safe"
        ]
        assert codes(operation(OperationKind.STRATEGY_TRADE, SAFE, CHANGE_THRESHOLD + THREE), context) == [
            "safe_self_call",
            "contract_not_whitelisted",
        ]
        assert codes(operation(OperationKind.STRATEGY_TRADE, ROUTER, supply), replace(context, asset=None)) == [
            "asset_unknown"
        ]

    def test_unwind_uses_its_own_grants(self) -> None:
        withdraw = contract_call_data("aave_v3_pool", "withdraw", ASSET, 5, SAFE)
        supply = contract_call_data("aave_v3_pool", "supply", ASSET, 5, SAFE, 0)
        context = self.context()
        assert codes(operation(OperationKind.EMERGENCY_UNWIND, ROUTER, withdraw), context) == []
        assert codes(operation(OperationKind.EMERGENCY_UNWIND, ROUTER, supply), context) == ["selector_not_whitelisted"]
        assert codes(
            operation(OperationKind.EMERGENCY_UNWIND, ROUTER, withdraw),
            replace(context, operator_approvals=frozenset()),
        ) == ["operator_approvals"]


class TestFeeCollection:
    kind = OperationKind.FEE_COLLECTION

    def context(self, **fields: object) -> PolicyContext:
        values: dict[str, object] = {
            "now": NOW, "asset": ASSET, "fee_recipient": FEES, "fee_ledger_balance": 500,
            "operator_approvals": frozenset({"op1", "op2"}),
        } | fields  # fmt: skip
        return PolicyContext(**values)  # type: ignore[arg-type]

    def test_allowed(self) -> None:
        assert codes(operation(self.kind, ASSET, erc20_transfer_data(FEES, 500)), self.context()) == []

    def test_refusals(self) -> None:
        assert codes(operation(self.kind, ASSET, erc20_transfer_data(FEES, 501)), self.context()) == [
            "amount_above_fee_ledger"
        ]
        assert codes(
            operation(self.kind, ASSET, erc20_transfer_data(FEES, 5)),
            self.context(operator_approvals=frozenset({"op1"})),
        ) == ["operator_approvals"]
        assert codes(operation(self.kind, ASSET, erc20_transfer_data(OTHER, 5)), self.context()) == [
            "fee_recipient_mismatch"
        ]
        assert codes(
            operation(self.kind, ASSET, erc20_transfer_data(FEES, 5)), self.context(fee_ledger_balance=None)
        ) == ["fee_ledger_unknown"]


class TestControlChange:
    kind = OperationKind.CONTROL_CHANGE

    def context(self, **fields: object) -> PolicyContext:
        values: dict[str, object] = {
            "now": NOW, "operator_approvals": frozenset({"op1", "op2"}), "announced_at": NOW - timedelta(hours=72),
        } | fields  # fmt: skip
        return PolicyContext(**values)  # type: ignore[arg-type]

    def test_allowed_72_hours_after_the_announcement(self) -> None:
        assert codes(operation(self.kind, SAFE, CHANGE_THRESHOLD + THREE), self.context()) == []

    def test_refused_without_the_delay_or_announcement(self) -> None:
        op = operation(self.kind, SAFE, CHANGE_THRESHOLD + THREE)
        decision = policy_evaluate(op, self.context(announced_at=NOW - timedelta(hours=71)))
        assert [r.code for r in decision.reasons] == ["delay_not_elapsed"]
        assert "2025-03-01T13:00:00+00:00 (72 h)" in decision.reasons[0].message
        assert codes(op, self.context(announced_at=None)) == ["not_announced"]

    def test_refused_with_one_approval_or_not_a_control_call(self) -> None:
        op = operation(self.kind, SAFE, CHANGE_THRESHOLD + THREE)
        assert codes(op, self.context(operator_approvals=frozenset({"op1"}))) == ["operator_approvals"]
        assert codes(operation(self.kind, SAFE, SWAP), self.context()) == ["not_control_function"]
        assert codes(operation(self.kind, ROUTER, CHANGE_THRESHOLD + THREE), self.context()) == ["not_safe_call"]

    @pytest.mark.parametrize(
        ("signature", "arguments", "code"),
        [
            ("setGuard(address)", [ZERO], "guard_permanent"),
            ("setGuard(address)", [OTHER], "guard_permanent"),
            ("enableModule(address)", [OTHER], "module_forbidden"),
            ("setFallbackHandler(address)", [OTHER], "fallback_handler_forbidden"),
            ("changeThreshold(uint256)", [1], "threshold_below_two"),
            ("removeOwner(address,address,uint256)", [OTHER, OTHER, 1], "threshold_below_two"),
            ("addOwnerWithThreshold(address,uint256)", [OTHER, 1], "threshold_below_two"),
        ],
    )
    def test_changes_that_would_loosen_custody_are_never_signed(
        self, signature: str, arguments: list[object], code: str
    ) -> None:
        """Two operators and 72 h must not buy what the guard denies them: removing or replacing the co-signer guard
        (the co-signer itself changes only through the guard's public 7-day recovery), a module (its transactions
        skip the guard), or a threshold under 2 (the co-signer alone would meet it)."""
        from eth_abi.abi import encode as abi_encode

        types = signature[signature.index("(") + 1 : -1].split(",")
        data = function_selector(signature) + abi_encode(types, arguments)
        assert codes(operation(self.kind, SAFE, data), self.context()) == [code]

    def test_every_missing_requirement_is_listed(self) -> None:
        op = operation(self.kind, SAFE, CHANGE_THRESHOLD + THREE)
        context = self.context(operator_approvals=frozenset(), announced_at=NOW)
        assert codes(op, context) == ["operator_approvals", "delay_not_elapsed"]


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        policy_evaluate(
            operation(OperationKind.STRATEGY_TRADE, ROUTER, SWAP), PolicyContext(now=NOW.replace(tzinfo=None))
        )


def test_markdown_table_has_a_row_per_operation_type() -> None:
    markdown = policy_table_markdown()
    lines = markdown.splitlines()
    assert lines[0] == "| operation | required before the co-signer signs | Safe transaction it may sign |"
    assert len([line for line in lines if line.startswith("| ") and line != lines[0]]) == len(OperationKind) == 7
    assert {rule.kind for rule in POLICY_TABLE} == set(OperationKind)
    assert (
        "| owner, threshold, module or guard change | 2 operator approvals and a 72 h delay after the announcement"
        in markdown
    )


class TestAuthorisationIsReverified:
    kind = OperationKind.WITHDRAWAL_TO_LINKED_WALLET

    def context(self, authorisation: Authorisation, now: datetime = NOW) -> PolicyContext:
        return PolicyContext(now=now, asset=ASSET, authorisation=authorisation, linked_wallets=LINKED, payout=100)

    def test_listed_signers_without_their_signatures_are_not_trusted(self) -> None:
        genuine = authorised(WALLET_A.address)
        forged = replace(genuine, signatures=genuine.signatures[:1])
        op = operation(self.kind, ASSET, erc20_transfer_data(WALLET_A.address, 100))
        assert codes(op, self.context(genuine)) == []
        assert codes(op, self.context(forged)) == ["depositor_signatures"]
        assert codes(op, self.context(replace(genuine, signatures=(b"\x00" * 65, b"\x01" * 65)))) == [
            "depositor_signatures"
        ]

    def test_a_request_that_expired_since_it_was_checked(self) -> None:
        op = operation(self.kind, ASSET, erc20_transfer_data(WALLET_A.address, 100))
        assert codes(op, self.context(authorised(WALLET_A.address), now=NOW + timedelta(hours=1))) == [
            "deadline_passed"
        ]


def test_a_nonce_invalidation_is_a_call_to_the_safe_itself_with_nothing_in_it() -> None:
    kind, context = OperationKind.NONCE_INVALIDATION, PolicyContext(now=NOW)
    assert codes(operation(kind, SAFE, b""), context) == []
    assert codes(operation(kind, SAFE, CHANGE_THRESHOLD + (1).to_bytes(32, "big")), context) == ["not_a_no_op"]
    assert codes(operation(kind, OTHER, b""), context) == ["not_safe_call"]
    assert codes(operation(kind, SAFE, b"", value=1), context) == ["ether_sent"]
    assert codes(operation(kind, SAFE, b"", operation=1), context) == ["delegatecall"]
