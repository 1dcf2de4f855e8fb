"""The contract-call policy of strategy trades and emergency unwinds: each declared call shape allowed, and each
attack on it refused with its own reason (pure: no chain, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from eth_utils.address import to_checksum_address

from vaults.custody.call_policy import (
    CALL_SHAPES,
    CallPolicy,
    CallPolicyError,
    CallUsage,
    ContractGrant,
    Protocol,
    TokenMark,
    call_policy_from_config,
    call_shapes_markdown,
)
from vaults.custody.calls import (
    CONTRACT_FUNCTIONS,
    UINT256_MAX,
    contract_call_data,
    contract_call_decode,
    erc20_transfer_data,
)
from vaults.custody.policy import Operation, OperationKind, PolicyContext, policy_evaluate
from vaults.custody.safe_tx import SafeTx

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SAFE = to_checksum_address("0x1234567890123456789012345678901234567890")


def address(n: int) -> str:
    return to_checksum_address(f"0x{n:040x}")


USDC, WETH, SHADY = address(0xA1), address(0xA2), address(0xA3)  # the vault asset (6 decimals), a token, a stranger
V2_ROUTER, V3_ROUTER, POOL, UNWIND_POOL = address(0xB1), address(0xB2), address(0xB3), address(0xB4)
ATTACKER = address(0xDEAD)
OPERATOR = frozenset({"op1"})
ETH_PRICE = Decimal("2000")  # USDC per WETH
WETH_UNIT = 10**18
USDC_UNIT = 10**6

POLICY = CallPolicy(
    tokens={USDC: 100_000 * USDC_UNIT, WETH: 50 * WETH_UNIT},
    trade_contracts={
        V2_ROUTER: ContractGrant(Protocol.UNISWAP_V2_ROUTER, frozenset({"swapExactTokensForTokens"})),
        V3_ROUTER: ContractGrant(Protocol.UNISWAP_V3_ROUTER, frozenset({"exactInputSingle"})),
        POOL: ContractGrant(Protocol.AAVE_V3_POOL, frozenset({"supply", "withdraw", "borrow", "repay"})),
    },
    unwind_contracts={
        UNWIND_POOL: ContractGrant(Protocol.AAVE_V3_POOL, frozenset({"supply", "withdraw", "borrow", "repay"})),
        V2_ROUTER: ContractGrant(Protocol.UNISWAP_V2_ROUTER, frozenset({"swapExactTokensForTokens"})),
    },
    period=timedelta(days=1),
    max_slippage=Decimal("0.01"),
    value_loss_tolerance=500 * USDC_UNIT,
    mark_max_age=timedelta(hours=1),
)
MARKS = {
    USDC: TokenMark(price=Decimal(1), decimals=6, at=NOW),
    WETH: TokenMark(price=ETH_PRICE, decimals=18, at=NOW - timedelta(minutes=5)),
}


def context(**fields: object) -> PolicyContext:
    values: dict[str, object] = {
        "now": NOW, "asset": USDC, "operator_approvals": OPERATOR, "call_policy": POLICY, "marks": MARKS,
    } | fields  # fmt: skip
    return PolicyContext(**values)  # type: ignore[arg-type]


def trade(to: str, data: bytes, kind: OperationKind = OperationKind.STRATEGY_TRADE, **fields: int) -> Operation:
    values: dict[str, object] = {"to": to, "value": 0, "data": data, "operation": 0, "nonce": 7} | fields
    return Operation(kind=kind, chain_id=1, safe=SAFE, tx=SafeTx(**values))  # type: ignore[arg-type]


def refused(op: Operation, ctx: PolicyContext | None = None) -> list[tuple[str, str]]:
    decision = policy_evaluate(op, ctx or context())
    assert decision.allowed is (not decision.reasons)
    assert decision.usage is None or decision.allowed
    return [(reason.code, reason.message) for reason in decision.reasons]


def codes(op: Operation, ctx: PolicyContext | None = None) -> list[str]:
    return [code for code, _ in refused(op, ctx)]


def v2_swap(amount_in: int, amount_out_min: int, path: list[str], to: str = SAFE) -> bytes:
    return contract_call_data(
        "uniswap_v2_router", "swapExactTokensForTokens", amount_in, amount_out_min, path, to, 2**40
    )


def v3_swap(token_in: str, token_out: str, amount_in: int, amount_out_min: int, recipient: str = SAFE) -> bytes:
    params = (token_in, token_out, 3000, recipient, 2**40, amount_in, amount_out_min, 0)
    return contract_call_data("uniswap_v3_router", "exactInputSingle", params)


def aave(function: str, *arguments: object) -> bytes:
    return contract_call_data("aave_v3_pool", function, *arguments)


def approve(spender: str, amount: int) -> bytes:
    return contract_call_data("erc20", "approve", spender, amount)


# 10 WETH at 2,000 USDC is 20,000 USDC; with 1 % slippage at least 19,800 USDC must come back.
TEN_WETH = 10 * WETH_UNIT
MIN_FOR_TEN_WETH = 19_800 * USDC_UNIT


class TestDecoding:
    def test_selectors_are_the_deployed_functions(self) -> None:
        selectors = {
            f.signature: "0x" + s.hex() for functions in CONTRACT_FUNCTIONS.values() for s, f in functions.items()
        }
        assert selectors == {
            "transfer(address,uint256)": "0xa9059cbb",
            "approve(address,uint256)": "0x095ea7b3",
            "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)": "0x38ed1739",
            "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))": "0x414bf389",
            "supply(address,uint256,address,uint16)": "0x617ba037",
            "withdraw(address,uint256,address)": "0x69328dec",
            "borrow(address,uint256,uint256,uint16,address)": "0xa415bcad",
            "repay(address,uint256,uint256,address)": "0x573ade81",
        }
        assert {(shape.protocol.value, shape.selector) for shape in CALL_SHAPES} == {
            (protocol, selector) for protocol, functions in CONTRACT_FUNCTIONS.items() for selector in functions
        }

    def test_arguments_by_name_with_struct_fields_flattened(self) -> None:
        call = contract_call_decode("uniswap_v3_router", v3_swap(WETH, USDC, 5, 6, recipient=ATTACKER))
        assert call is not None
        assert call.arguments == {
            "params.tokenIn": WETH, "params.tokenOut": USDC, "params.fee": 3000, "params.recipient": ATTACKER,
            "params.deadline": 2**40, "params.amountIn": 5, "params.amountOutMinimum": 6, "params.sqrtPriceLimitX96": 0,
        }  # fmt: skip
        v2 = contract_call_decode("uniswap_v2_router", v2_swap(1, 2, [WETH, SHADY, USDC]))
        assert v2 is not None and v2.arguments["path"] == (WETH, SHADY, USDC)

    def test_non_canonical_encodings_do_not_decode(self) -> None:
        data = v2_swap(1, 2, [WETH, USDC])
        assert contract_call_decode("uniswap_v2_router", data + b"\x00" * 32) is None  # trailing words
        assert contract_call_decode("uniswap_v2_router", data[:-1]) is None
        # the path's offset pointing elsewhere than the canonical place
        moved = bytearray(data)
        moved[4 + 2 * 32 + 31] += 32
        assert contract_call_decode("uniswap_v2_router", bytes(moved) + bytes(32)) is None
        assert contract_call_decode("aave_v3_pool", data) is None  # another protocol's selector


class TestAllowed:
    def test_v2_swap_at_the_minimum_output_uses_allowance_and_its_worst_case_loss(self) -> None:
        decision = policy_evaluate(trade(V2_ROUTER, v2_swap(TEN_WETH, MIN_FOR_TEN_WETH, [WETH, USDC])), context())
        assert (decision.allowed, decision.reasons) == (True, ())
        assert decision.usage == CallUsage(spent={WETH: TEN_WETH}, value_loss=200 * USDC_UNIT)

    def test_v3_swap(self) -> None:
        decision = policy_evaluate(
            trade(V3_ROUTER, v3_swap(USDC, WETH, 2_000 * USDC_UNIT, 99 * WETH_UNIT // 100)), context()
        )
        assert decision.allowed
        assert decision.usage == CallUsage(spent={USDC: 2_000 * USDC_UNIT}, value_loss=20 * USDC_UNIT)

    @pytest.mark.parametrize(
        ("function", "arguments", "spent"),
        [
            ("supply", (WETH, TEN_WETH, SAFE, 0), {WETH: TEN_WETH}),
            ("withdraw", (WETH, UINT256_MAX, SAFE), {}),  # everything, back into the Safe
            ("borrow", (USDC, 5_000 * USDC_UNIT, 2, 0, SAFE), {USDC: 5_000 * USDC_UNIT}),
            ("repay", (USDC, 5_000 * USDC_UNIT, 2, SAFE), {USDC: 5_000 * USDC_UNIT}),
        ],
    )
    def test_aave(self, function: str, arguments: tuple[object, ...], spent: dict[str, int]) -> None:
        decision = policy_evaluate(trade(POOL, aave(function, *arguments)), context())
        assert (decision.allowed, decision.reasons) == (True, ())
        assert decision.usage == CallUsage(spent=spent, value_loss=0)

    def test_erc20_approve_of_a_granted_contract_and_transfer_to_the_safe(self) -> None:
        assert codes(trade(WETH, approve(V2_ROUTER, TEN_WETH))) == []
        assert codes(trade(USDC, erc20_transfer_data(SAFE, 1))) == []


class TestRecipientMustBeTheSafe:
    """A whitelisted router or pool call that pays someone else drains the vault with one operator."""

    def test_v2_swap_to_an_attacker(self) -> None:
        reasons = refused(trade(V2_ROUTER, v2_swap(TEN_WETH, MIN_FOR_TEN_WETH, [WETH, USDC], to=ATTACKER)))
        assert reasons == [
            ("recipient_not_safe", f"swapExactTokensForTokens: to is {ATTACKER}; it must be the Safe {SAFE}")
        ]

    def test_v3_swap_to_an_attacker(self) -> None:
        op = trade(V3_ROUTER, v3_swap(WETH, USDC, TEN_WETH, MIN_FOR_TEN_WETH, recipient=ATTACKER))
        assert codes(op) == ["recipient_not_safe"]

    @pytest.mark.parametrize(
        ("function", "arguments", "name"),
        [
            ("borrow", (USDC, 1, 2, 0, ATTACKER), "onBehalfOf"),
            ("withdraw", (WETH, 1, ATTACKER), "to"),
            ("supply", (WETH, 1, ATTACKER, 0), "onBehalfOf"),
            ("repay", (USDC, 1, 2, ATTACKER), "onBehalfOf"),  # paying off someone else's debt
        ],
    )
    def test_aave_on_behalf_of_an_attacker(self, function: str, arguments: tuple[object, ...], name: str) -> None:
        assert refused(trade(POOL, aave(function, *arguments))) == [
            ("recipient_not_safe", f"{function}: {name} is {ATTACKER}; it must be the Safe {SAFE}")
        ]

    def test_erc20_transfer_out_is_no_trade(self) -> None:
        assert codes(trade(USDC, erc20_transfer_data(ATTACKER, 1))) == ["recipient_not_safe"]


class TestTokensAndContracts:
    def test_a_token_outside_the_allowlist_in_a_swap_path(self) -> None:
        op = trade(V2_ROUTER, v2_swap(TEN_WETH, MIN_FOR_TEN_WETH, [WETH, SHADY, USDC]))
        assert refused(op) == [
            ("token_not_allowed", f"swapExactTokensForTokens: path holds {SHADY}, not an allowlisted token")
        ]
        assert codes(trade(V3_ROUTER, v3_swap(WETH, SHADY, 1, 1))) == ["token_not_allowed"]
        assert codes(trade(POOL, aave("borrow", SHADY, 1, 2, 0, SAFE))) == ["token_not_allowed"]
        assert codes(trade(V2_ROUTER, v2_swap(1, 1, [WETH]))) == ["path_invalid"]

    def test_a_contract_or_function_not_granted(self) -> None:
        assert codes(trade(ATTACKER, v2_swap(1, 1, [WETH, USDC]))) == ["contract_not_whitelisted"]
        assert codes(trade(SHADY, approve(V2_ROUTER, 1))) == ["contract_not_whitelisted"]  # not an allowlisted token
        assert codes(trade(V2_ROUTER, aave("withdraw", WETH, 1, SAFE))) == ["selector_not_whitelisted"]
        narrow = replace(
            POLICY, trade_contracts={POOL: ContractGrant(Protocol.AAVE_V3_POOL, frozenset({"supply", "withdraw"}))}
        )
        assert refused(trade(POOL, aave("borrow", USDC, 1, 2, 0, SAFE)), context(call_policy=narrow)) == [
            ("selector_not_whitelisted", f"borrow is not a whitelisted trading function of {POOL}")
        ]
        assert codes(trade(POOL, b"")) == ["selector_not_whitelisted"]

    def test_malformed_call_data(self) -> None:
        assert codes(trade(V2_ROUTER, v2_swap(1, 1, [WETH, USDC]) + bytes(32))) == ["call_malformed"]

    def test_no_policy_no_call(self) -> None:
        assert codes(trade(V2_ROUTER, v2_swap(1, 1, [WETH, USDC])), context(call_policy=None)) == [
            "call_policy_missing"
        ]


class TestMinimumOutput:
    def test_amount_out_min_zero(self) -> None:
        assert refused(trade(V2_ROUTER, v2_swap(TEN_WETH, 0, [WETH, USDC]))) == [
            (
                "output_below_minimum",
                f"amountOutMin is 0; at the marked prices and the maximum slippage 0.01 selling {TEN_WETH} of "
                f"{WETH} must return at least {MIN_FOR_TEN_WETH} of {USDC}",
            ),
            (
                "value_loss_tolerance",
                "swapExactTokensForTokens may lose 20000000000 (base units of the vault asset, at marked prices); "
                "with 0 lost in the last 1 day, 0:00:00 that exceeds the vault's tolerance of 500000000",
            ),
        ]

    def test_one_base_unit_below_the_derived_minimum(self) -> None:
        assert codes(trade(V2_ROUTER, v2_swap(TEN_WETH, MIN_FOR_TEN_WETH - 1, [WETH, USDC]))) == [
            "output_below_minimum"
        ]
        op = trade(V3_ROUTER, v3_swap(USDC, WETH, 2_000 * USDC_UNIT, 99 * WETH_UNIT // 100 - 1))
        assert codes(op) == ["output_below_minimum"]

    def test_a_missing_or_stale_price_is_refused_not_assumed(self) -> None:
        op = trade(V2_ROUTER, v2_swap(TEN_WETH, MIN_FOR_TEN_WETH, [WETH, USDC]))
        assert refused(op, context(marks={USDC: MARKS[USDC]})) == [
            ("price_missing", f"{WETH} has no marked price: the call's value cannot be checked")
        ]
        stale = MARKS | {WETH: replace(MARKS[WETH], at=NOW - timedelta(hours=1, seconds=1))}
        assert codes(op, context(marks=stale)) == ["price_stale"]
        zero = MARKS | {WETH: replace(MARKS[WETH], price=Decimal(0))}
        assert codes(op, context(marks=zero)) == ["price_missing"]


class TestApprove:
    def test_a_spender_not_granted(self) -> None:
        assert refused(trade(WETH, approve(ATTACKER, 1))) == [
            ("spender_not_allowed", f"approve: {ATTACKER} is not a contract this policy lets the Safe call")
        ]

    def test_unlimited_or_above_the_allowance(self) -> None:
        assert refused(trade(WETH, approve(V2_ROUTER, UINT256_MAX))) == [
            ("approve_unlimited", f"approve: an unlimited allowance of {WETH} is never signed")
        ]
        assert codes(trade(WETH, approve(V2_ROUTER, 50 * WETH_UNIT + 1))) == ["approve_above_allowance"]
        assert codes(trade(WETH, approve(V2_ROUTER, 50 * WETH_UNIT))) == []

    def test_an_unwind_approves_only_its_own_contracts(self) -> None:
        unwind = OperationKind.EMERGENCY_UNWIND
        assert codes(trade(WETH, approve(UNWIND_POOL, 1), kind=unwind)) == []
        assert codes(trade(WETH, approve(POOL, 1), kind=unwind)) == ["spender_not_allowed"]


class TestPerPeriodAllowance:
    def test_two_calls_that_each_fit_but_together_do_not(self) -> None:
        op = trade(V2_ROUTER, v2_swap(30 * WETH_UNIT, 59_990 * USDC_UNIT, [WETH, USDC]))
        first = policy_evaluate(op, context())
        assert first.allowed and first.usage == CallUsage(spent={WETH: 30 * WETH_UNIT}, value_loss=10 * USDC_UNIT)
        # the first call's usage is what the co-signer recorded; the second sees it
        second = policy_evaluate(op, context(call_usage=first.usage))
        assert [(r.code, r.message) for r in second.reasons] == [
            (
                "allowance_exceeded",
                f"swapExactTokensForTokens uses {30 * WETH_UNIT} of {WETH}; with {30 * WETH_UNIT} already used in "
                f"the last 1 day, 0:00:00 that exceeds its allowance of {50 * WETH_UNIT} per period",
            )
        ]

    def test_allowance_alone(self) -> None:
        op = trade(POOL, aave("borrow", USDC, 60_000 * USDC_UNIT, 2, 0, SAFE))
        assert codes(op) == []
        assert codes(op, context(call_usage=CallUsage(spent={USDC: 40_000 * USDC_UNIT + 1}))) == ["allowance_exceeded"]
        assert codes(op, context(call_usage=CallUsage(spent={USDC: 40_000 * USDC_UNIT}))) == []
        assert codes(trade(POOL, aave("repay", USDC, UINT256_MAX, 2, SAFE))) == ["allowance_exceeded"]


class TestCumulativeValueLoss:
    def test_trades_each_within_slippage_whose_sum_exceeds_the_tolerance(self) -> None:
        # Each swap of 10 WETH gives up to 1 % (200 USDC); the vault tolerates 500 USDC of loss per day.
        op = trade(V2_ROUTER, v2_swap(TEN_WETH, MIN_FOR_TEN_WETH, [WETH, USDC]))
        used = CallUsage()
        for _ in range(2):
            decision = policy_evaluate(op, context(call_usage=used))
            assert decision.allowed and decision.usage is not None
            used = CallUsage(
                spent={WETH: used.spent.get(WETH, 0) + TEN_WETH}, value_loss=used.value_loss + decision.usage.value_loss
            )
        assert used == CallUsage(spent={WETH: 2 * TEN_WETH}, value_loss=400 * USDC_UNIT)
        assert refused(op, context(call_usage=used)) == [
            (
                "value_loss_tolerance",
                "swapExactTokensForTokens may lose 200000000 (base units of the vault asset, at marked prices); "
                "with 400000000 lost in the last 1 day, 0:00:00 that exceeds the vault's tolerance of 500000000",
            )
        ]
        # a better minimum output loses less and fits
        assert (
            codes(trade(V2_ROUTER, v2_swap(TEN_WETH, 19_900 * USDC_UNIT, [WETH, USDC])), context(call_usage=used)) == []
        )

    def test_the_loss_is_rounded_against_the_vault(self) -> None:
        # 10**12 + 1 wei of WETH is worth 2000.000000002 USDC base units: the minimum output is rounded up
        # (1980.00000000198 -> 1981) and the loss too (19.000000002 -> 20).
        amount = 10**12 + 1
        assert codes(trade(V2_ROUTER, v2_swap(amount, 1980, [WETH, USDC]))) == ["output_below_minimum"]
        decision = policy_evaluate(trade(V2_ROUTER, v2_swap(amount, 1981, [WETH, USDC])), context())
        assert decision.allowed and decision.usage == CallUsage(spent={WETH: amount}, value_loss=20)


class TestEmergencyUnwind:
    kind = OperationKind.EMERGENCY_UNWIND

    def test_positions_back_to_the_base_asset(self) -> None:
        assert codes(trade(UNWIND_POOL, aave("withdraw", WETH, UINT256_MAX, SAFE), kind=self.kind)) == []
        assert codes(trade(UNWIND_POOL, aave("repay", USDC, 1, 2, SAFE), kind=self.kind)) == []
        assert codes(trade(V2_ROUTER, v2_swap(TEN_WETH, MIN_FOR_TEN_WETH, [WETH, USDC]), kind=self.kind)) == []

    def test_no_new_risk_and_no_other_output(self) -> None:
        assert refused(trade(UNWIND_POOL, aave("borrow", USDC, 1, 2, 0, SAFE), kind=self.kind)) == [
            ("selector_not_whitelisted", f"borrow is not a whitelisted unwind function of {UNWIND_POOL}")
        ]
        assert codes(trade(UNWIND_POOL, aave("supply", WETH, 1, SAFE, 0), kind=self.kind)) == [
            "selector_not_whitelisted"
        ]
        op = trade(V2_ROUTER, v2_swap(2_000 * USDC_UNIT, 99 * WETH_UNIT // 100, [USDC, WETH]), kind=self.kind)
        assert codes(op) == ["unwind_not_to_base_asset"]
        # the trade contracts are not unwind contracts
        assert codes(trade(POOL, aave("withdraw", WETH, 1, SAFE), kind=self.kind)) == ["contract_not_whitelisted"]

    def test_an_unwind_to_an_attacker(self) -> None:
        op = trade(UNWIND_POOL, aave("withdraw", WETH, UINT256_MAX, ATTACKER), kind=self.kind)
        assert codes(op) == ["recipient_not_safe"]


class TestNeverATradeOrAnUnwind:
    """DELEGATECALL and calls to the Safe itself (owner/module/guard changes) are never a trade or an unwind, even
    on a contract the policy grants."""

    @pytest.mark.parametrize("kind", [OperationKind.STRATEGY_TRADE, OperationKind.EMERGENCY_UNWIND])
    def test_delegatecall(self, kind: OperationKind) -> None:
        router = V2_ROUTER
        op = trade(router, v2_swap(TEN_WETH, MIN_FOR_TEN_WETH, [WETH, USDC]), kind=kind, operation=1)
        assert codes(op) == ["delegatecall"]

    @pytest.mark.parametrize("kind", [OperationKind.STRATEGY_TRADE, OperationKind.EMERGENCY_UNWIND])
    @pytest.mark.parametrize(
        "signature", ["addOwnerWithThreshold(address,uint256)", "enableModule(address)", "setGuard(address)"]
    )
    def test_a_call_to_the_safe_itself(self, kind: OperationKind, signature: str) -> None:
        from vaults.custody.calls import function_selector

        data = (
            function_selector(signature)
            + bytes(12)
            + bytes.fromhex(ATTACKER[2:])
            + bytes(32 if "," in signature else 0)
        )
        assert codes(trade(SAFE, data, kind=kind)) == ["safe_self_call", "contract_not_whitelisted"]

    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"gas_price": 1}, "gas_refund"),
            ({"gas_token": WETH}, "gas_token_set"),
            ({"refund_receiver": ATTACKER}, "refund_receiver_set"),
            ({"value": 1}, "ether_sent"),
        ],
    )
    def test_a_refund_or_ether_out(self, fields: dict[str, object], code: str) -> None:
        op = trade(V2_ROUTER, v2_swap(TEN_WETH, MIN_FOR_TEN_WETH, [WETH, USDC]), **fields)  # type: ignore[arg-type]
        assert codes(op) == [code]


class TestConfiguration:
    def test_from_stored_form(self) -> None:
        policy = call_policy_from_config(
            tokens={USDC.lower(): "100000000000", WETH: 50 * WETH_UNIT},
            trade_contracts={
                V2_ROUTER.lower(): {"protocol": "uniswap_v2_router", "functions": ["swapExactTokensForTokens"]}
            },
            unwind_contracts={},
            period=timedelta(days=1),
            max_slippage=Decimal("0.01"),
            value_loss_tolerance=500 * USDC_UNIT,
            mark_max_age=timedelta(hours=1),
        )
        assert policy.tokens == {USDC: 100_000 * USDC_UNIT, WETH: 50 * WETH_UNIT}
        assert policy.trade_contracts == {
            V2_ROUTER: ContractGrant(Protocol.UNISWAP_V2_ROUTER, frozenset({"swapExactTokensForTokens"}))
        }

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"tokens": {"0x12": "1"}}, "token"),
            ({"tokens": {USDC: "-1"}}, "allowance of"),
            ({"tokens": {USDC: "1.5"}}, "integer of base units"),
            ({"trade_contracts": {V2_ROUTER: {"protocol": "erc20", "functions": ["approve"]}}}, "allowlisted under"),
            ({"trade_contracts": {V2_ROUTER: {"protocol": "curve", "functions": ["x"]}}}, "protocol must be"),
            ({"trade_contracts": {POOL: {"protocol": "aave_v3_pool", "functions": ["flashLoan"]}}}, "subset"),
            ({"max_slippage": Decimal(1)}, "max_slippage"),
            ({"period": timedelta(0)}, "positive"),
        ],
    )
    def test_refused(self, change: dict[str, object], message: str) -> None:
        values: dict[str, object] = {
            "tokens": {}, "trade_contracts": {}, "unwind_contracts": {}, "period": timedelta(days=1),
            "max_slippage": Decimal("0.01"), "value_loss_tolerance": 0, "mark_max_age": timedelta(hours=1),
        } | change  # fmt: skip
        with pytest.raises(CallPolicyError, match=message):
            call_policy_from_config(**values)  # type: ignore[arg-type]


def test_markdown_has_a_row_per_call_shape() -> None:
    lines = call_shapes_markdown().splitlines()
    assert len(lines) == 2 + len(CALL_SHAPES) == 10
    assert lines[5] == (
        "| uniswap_v3_router `exactInputSingle` | `params.recipient` | `params.tokenIn`, `params.tokenOut` "
        "| `params.amountIn` of `params.tokenIn` | `params.amountOutMinimum` ≥ the marked-price minimum; its "
        "worst-case loss counts; unwind too |"
    )


def test_the_readme_shows_the_tables_as_generated() -> None:
    from pathlib import Path

    from vaults.custody.policy import policy_table_markdown

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    assert call_shapes_markdown() in readme
    assert policy_table_markdown().rstrip("\n") in readme
