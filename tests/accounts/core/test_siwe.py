"""The pure EIP-4361 core: exact messages, strict parsing, signature recovery."""

from __future__ import annotations

import dataclasses
import string
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from accounts.core import siwe
from tests.accounts.conftest import sign

# The EIP's own example (its address is the WETH contract's, EIP-55 checksummed).
EIP_EXAMPLE = (
    "example.com wants you to sign in with your Ethereum account:\n"
    "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n"
    "\n"
    "I accept the ExampleOrg Terms of Service: https://example.com/tos\n"
    "\n"
    "URI: https://example.com/login\n"
    "Version: 1\n"
    "Chain ID: 1\n"
    "Nonce: 32891756\n"
    "Issued At: 2021-09-30T16:25:24Z\n"
    "Resources:\n"
    "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
    "- https://example.com/my-web2-claim.json"
)
EIP_EXAMPLE_FIELDS = siwe.SiweMessage(
    domain="example.com",
    address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
    statement="I accept the ExampleOrg Terms of Service: https://example.com/tos",
    uri="https://example.com/login",
    chain_id=1,
    nonce="32891756",
    issued_at="2021-09-30T16:25:24Z",
    resources=(
        "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
        "https://example.com/my-web2-claim.json",
    ),
)
FULL = (
    "https://app.example.com:8443 wants you to sign in with your Ethereum account:\n"
    "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n"
    "\n"
    "\n"
    "URI: https://app.example.com:8443/wallets?x=1#y\n"
    "Version: 1\n"
    "Chain ID: 42161\n"
    "Nonce: abcDEF1234567890\n"
    "Issued At: 2024-02-29T23:59:60.5+01:00\n"
    "Expiration Time: 2024-03-01T00:10:00Z\n"
    "Not Before: 2024-02-29T22:00:00.123456789Z\n"
    "Request ID: req-1:@%20x\n"
    "Resources:"
)


def test_build_renders_the_eip_example_exactly() -> None:
    assert siwe.build(EIP_EXAMPLE_FIELDS) == EIP_EXAMPLE
    assert EIP_EXAMPLE_FIELDS.text() == EIP_EXAMPLE


def test_parse_reads_every_field_of_the_eip_example() -> None:
    assert siwe.parse(EIP_EXAMPLE) == EIP_EXAMPLE_FIELDS


def test_parse_reads_scheme_port_optional_fields_and_empty_resources() -> None:
    message = siwe.parse(FULL)

    assert message == siwe.SiweMessage(
        scheme="https",
        domain="app.example.com:8443",
        address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        statement=None,
        uri="https://app.example.com:8443/wallets?x=1#y",
        chain_id=42161,
        nonce="abcDEF1234567890",
        issued_at="2024-02-29T23:59:60.5+01:00",
        expiration_time="2024-03-01T00:10:00Z",
        not_before="2024-02-29T22:00:00.123456789Z",
        request_id="req-1:@%20x",
        resources=(),
    )
    assert siwe.build(message) == FULL
    # The leap second is the instant after :59; the offset is applied; nanoseconds are truncated.
    assert message.issued_at_time == datetime(2024, 2, 29, 23, 0, 0, 500000, tzinfo=UTC)
    assert message.expiration == datetime(2024, 3, 1, 0, 10, tzinfo=UTC)
    assert message.not_before_time == datetime(2024, 2, 29, 22, 0, 0, 123456, tzinfo=UTC)


def test_a_message_without_statement_has_two_empty_lines_after_the_address() -> None:
    message = dataclasses.replace(EIP_EXAMPLE_FIELDS, statement=None, resources=None)

    assert siwe.build(message).split("\n")[:5] == [
        "example.com wants you to sign in with your Ethereum account:",
        "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        "",
        "",
        "URI: https://example.com/login",
    ]
    assert siwe.parse(siwe.build(message)) == message


def _replace_line(text: str, index: int, line: str | None) -> str:
    lines = text.split("\n")
    if line is None:
        del lines[index]
    else:
        lines[index] = line
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "Line 1: expected '<domain> wants you to sign in"),
        (EIP_EXAMPLE.replace(" wants you to sign in", " wants to sign in"), "Line 1: expected '<domain>"),
        (EIP_EXAMPLE.replace("example.com wants", " wants", 1), "Line 1: '' is not a valid domain"),
        (EIP_EXAMPLE.replace("example.com wants", "exa mple.com wants", 1), "Line 1: 'exa mple.com' is not a valid"),
        (EIP_EXAMPLE.replace("example.com wants", "1ttp://example.com wants", 1), "'1ttp' is not a valid URI scheme"),
        (EIP_EXAMPLE.replace("example.com wants", "[::zz]:80 wants", 1), "invalid IPv6 address"),
        (_replace_line(EIP_EXAMPLE, 1, None), "Line 2: An address is 0x followed by 40 hexadecimal digits."),
        (
            EIP_EXAMPLE.replace(
                "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756cc2"
            ),
            "wrong EIP-55 checksum",
        ),
        (
            EIP_EXAMPLE.replace(
                "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
            ),
            "Line 2: 0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2 is not EIP-55 checksummed: "
            "expected 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2.",
        ),
        (
            EIP_EXAMPLE.replace(
                "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc"
            ),
            "Line 2:",
        ),
        (_replace_line(EIP_EXAMPLE, 2, None), "Line 3: expected an empty line, got 'I accept the"),
        (_replace_line(EIP_EXAMPLE, 4, None), "Line 5: expected an empty line, got 'URI: https://example.com/login'"),
        (
            siwe.build(dataclasses.replace(EIP_EXAMPLE_FIELDS, statement=None)).replace("\n\n\n", "\n\n"),
            "Line 4: expected an empty line before 'URI: '",
        ),
        (EIP_EXAMPLE.replace("Terms of Service", 'Terms of "Service"'), "Line 4: "),
        (EIP_EXAMPLE.replace("Terms of Service", "Terms of Servíce"), "Line 4: "),
        (EIP_EXAMPLE.replace("URI: https://example.com/login", "URI: example dot com"), "Line 6: 'example dot com'"),
        (EIP_EXAMPLE.replace("URI: ", "Uri: "), "Line 6: expected 'URI: <uri>'"),
        (EIP_EXAMPLE.replace("Version: 1", "Version: 2"), "Line 7: Version must be 1, got '2'"),
        (_replace_line(EIP_EXAMPLE, 7, None), "Line 8: expected 'Chain ID: <chain id>', got 'Nonce: 32891756'"),
        (EIP_EXAMPLE.replace("Chain ID: 1", "Chain ID: 0x1"), "Line 8: '0x1' is not a valid chain ID"),
        (EIP_EXAMPLE.replace("Nonce: 32891756", "Nonce: 3289175"), "Line 9: '3289175' is not a valid nonce"),
        (EIP_EXAMPLE.replace("Nonce: 32891756", "Nonce: 3289-1756"), "Line 9: '3289-1756' is not a valid nonce"),
        (_replace_line(EIP_EXAMPLE, 8, None), "Line 9: expected 'Nonce: <nonce>'"),
        (EIP_EXAMPLE.replace("2021-09-30T16:25:24Z", "2021-09-30 16:25:24Z"), "Line 10: '2021-09-30 16:25:24Z'"),
        (EIP_EXAMPLE.replace("2021-09-30T16:25:24Z", "2021-02-30T16:25:24Z"), "not a valid date and time"),
        (EIP_EXAMPLE.replace("2021-09-30T16:25:24Z", "2021-09-30T16:25:24"), "is not an RFC 3339 date-time"),
        (EIP_EXAMPLE.replace("2021-09-30T16:25:24Z", "2021-09-30T16:25:24+24:00"), "out-of-range time offset"),
        (_replace_line(EIP_EXAMPLE, 9, None), "Line 10: expected 'Issued At:"),
        (EIP_EXAMPLE + "\n", "Line 14: expected '- <resource URI>', got ''"),
        (EIP_EXAMPLE.replace("- https://example.com/my-web2-claim.json", "-https://x"), "Line 13: expected '- <res"),
        (siwe.build(dataclasses.replace(EIP_EXAMPLE_FIELDS, resources=None)) + "\n", "Line 11: expected the end"),
        (
            siwe.build(
                dataclasses.replace(
                    EIP_EXAMPLE_FIELDS, resources=None, not_before="2021-09-30T16:25:24Z", request_id="r1"
                )
            ).replace(
                "Not Before: 2021-09-30T16:25:24Z\nRequest ID: r1", "Request ID: r1\nNot Before: 2021-09-30T16:25:24Z"
            ),
            "Line 12: expected the end of the message",
        ),
        (EIP_EXAMPLE.replace("\n", "\r\n"), "Line 1:"),
        (EIP_EXAMPLE.replace("Resources:", "Request ID: a b\nResources:"), "Line 11: 'a b' is not a valid request ID"),
        ("x" * (siwe.MAX_MESSAGE_LENGTH + 1), "longer than 16384 characters"),
    ],
)
def test_parse_rejects_malformed_messages_with_a_clear_error(text: str, error: str) -> None:
    with pytest.raises(siwe.SiweMessageInvalid) as excinfo:
        siwe.parse(text)
    assert error in str(excinfo.value)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"address": "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"}, "is not EIP-55 checksummed"),
        ({"nonce": "short"}, "is not a valid nonce"),
        ({"statement": "two\nlines"}, "is not a valid statement"),
        ({"statement": ""}, "is not a valid statement"),
        ({"version": "2"}, "Version must be 1"),
        ({"chain_id": -1}, "is not a valid chain ID"),
        ({"chain_id": True}, "is not a valid chain ID"),
        ({"issued_at": "yesterday"}, "is not an RFC 3339 date-time"),
        ({"domain": "example.com/path"}, "is not a valid domain"),
        ({"uri": "/relative"}, "is not a valid URI"),
        ({"resources": ("not a uri",)}, "is not a valid resource URI"),
    ],
)
def test_building_from_invalid_fields_is_refused(changes: dict[str, object], error: str) -> None:
    with pytest.raises(siwe.SiweMessageInvalid) as excinfo:
        dataclasses.replace(EIP_EXAMPLE_FIELDS, **changes)
    assert error in str(excinfo.value)


def test_checksum_address_accepts_one_case_and_checks_mixed_case() -> None:
    checksummed = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert siwe.checksum_address(checksummed.lower()) == checksummed
    assert siwe.checksum_address("0x" + checksummed[2:].upper()) == checksummed
    assert siwe.checksum_address(checksummed) == checksummed
    for bad in ("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756cc2", "C02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0x12"):
        with pytest.raises(siwe.SiweAddressInvalid):
            siwe.checksum_address(bad)


def test_format_datetime_is_utc_with_z_and_round_trips() -> None:
    moment = datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)
    assert siwe.format_datetime(moment) == "2024-05-01T12:30:15Z"
    assert siwe.format_datetime(moment + timedelta(microseconds=7)) == "2024-05-01T12:30:15.000007Z"
    assert siwe.parse_datetime("2024-05-01T14:30:15+02:00") == moment
    assert siwe.parse_datetime("2024-05-01t12:30:15z") == moment
    with pytest.raises(ValueError, match="aware"):
        siwe.format_datetime(datetime(2024, 5, 1))  # noqa: DTZ001


def test_check_time_refuses_at_expiration_and_before_not_before() -> None:
    message = dataclasses.replace(
        EIP_EXAMPLE_FIELDS, expiration_time="2021-09-30T16:35:24Z", not_before="2021-09-30T16:25:00Z"
    )
    message.check_time(datetime(2021, 9, 30, 16, 35, 23, 999999, tzinfo=UTC))
    message.check_time(datetime(2021, 9, 30, 16, 25, 0, tzinfo=UTC))
    with pytest.raises(siwe.SiweMessageExpired, match="expired at 2021-09-30T16:35:24Z"):
        message.check_time(datetime(2021, 9, 30, 16, 35, 24, tzinfo=UTC))
    with pytest.raises(siwe.SiweMessageNotYetValid, match="not valid before 2021-09-30T16:25:00Z"):
        message.check_time(datetime(2021, 9, 30, 16, 24, 59, tzinfo=UTC))


# -- signatures ---------------------------------------------------------------------------------------------


def _own_message(address: str) -> str:
    return siwe.build(dataclasses.replace(EIP_EXAMPLE_FIELDS, address=address))


def test_recover_signer_returns_the_signing_address() -> None:
    account = Account.create()
    text = _own_message(account.address)

    assert siwe.recover_signer(text, sign(account, text)) == account.address
    assert siwe.verify(text, sign(account, text)).address == account.address


def test_recover_signer_accepts_v_as_0_or_1() -> None:
    account = Account.create()
    text = _own_message(account.address)
    signature = sign(account, text)
    v = int(signature[-2:], 16)

    assert siwe.recover_signer(text, signature[:-2] + f"{v - 27:02x}") == account.address


def test_verify_refuses_a_signature_by_another_key() -> None:
    account, intruder = Account.create(), Account.create()
    text = _own_message(account.address)

    with pytest.raises(siwe.SiweSignatureMismatch) as excinfo:
        siwe.verify(text, sign(intruder, text))
    assert str(excinfo.value) == f"The message was signed by {intruder.address}, not by {account.address}."


def test_verify_refuses_a_signature_over_other_text() -> None:
    account = Account.create()
    text = _own_message(account.address)
    signature = sign(account, text)

    with pytest.raises(siwe.SiweSignatureMismatch):
        siwe.verify(text.replace("Nonce: 32891756", "Nonce: 32891757"), signature)


@pytest.mark.parametrize("signature", ["", "0x", "0x" + "ab" * 64, "ab" * 65, "0x" + "zz" * 65, "0x" + "00" * 65])
def test_recover_signer_refuses_malformed_signatures(signature: str) -> None:
    with pytest.raises(siwe.SiweSignatureInvalid):
        siwe.recover_signer(EIP_EXAMPLE, signature)


# -- property: build and parse are inverse ------------------------------------------------------------------

_ALNUM = string.ascii_letters + string.digits
_UNRESERVED = _ALNUM + "-._~"
_STATEMENT_CHARS = _UNRESERVED + ":/?#[]@!$&'()*+,;= "
_PCHAR = _UNRESERVED + "!$&'()*+,;=:@"

hosts = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}(:[0-9]{1,5})?", fullmatch=True)
uris = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}/{path}",
    st.sampled_from(["https", "http", "ipfs"]),
    hosts,
    st.text(alphabet=_PCHAR + "/", max_size=30),
)
timestamps = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001 (bounds are naive by hypothesis' API)
    max_value=datetime(9998, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(siwe.format_datetime)
messages = st.builds(
    siwe.SiweMessage,
    scheme=st.none() | st.sampled_from(["https", "http"]),
    domain=hosts,
    address=st.binary(min_size=20, max_size=20).map(to_checksum_address),
    statement=st.none() | st.text(alphabet=_STATEMENT_CHARS, min_size=1, max_size=80),
    uri=uris,
    chain_id=st.integers(min_value=0, max_value=2**64),
    nonce=st.text(alphabet=_ALNUM, min_size=8, max_size=40),
    issued_at=timestamps,
    expiration_time=st.none() | timestamps,
    not_before=st.none() | timestamps,
    request_id=st.none() | st.text(alphabet=_PCHAR, max_size=20),
    resources=st.none() | st.lists(uris, max_size=4).map(tuple),
)


@given(messages)
def test_parse_inverts_build(message: siwe.SiweMessage) -> None:
    text = siwe.build(message)
    assert siwe.parse(text) == message
    assert siwe.build(siwe.parse(text)) == text


@given(st.datetimes(timezones=st.just(UTC)))
def test_parse_datetime_inverts_format_datetime(moment: datetime) -> None:
    assert siwe.parse_datetime(siwe.format_datetime(moment)) == moment
