"""Sign-In with Ethereum (EIP-4361) messages: build, parse and verify, exactly per the spec's ABNF.

Pure: no Django. The grammar, with the RFC 3986 / RFC 3339 productions it imports::

    sign-in-with-ethereum =
        [ scheme "://" ] domain %s" wants you to sign in with your Ethereum account:" LF
        address LF
        LF
        [ statement LF ]
        LF
        %s"URI: " uri LF
        %s"Version: " version LF
        %s"Chain ID: " chain-id LF
        %s"Nonce: " nonce LF
        %s"Issued At: " issued-at
        [ LF %s"Expiration Time: " expiration-time ]
        [ LF %s"Not Before: " not-before ]
        [ LF %s"Request ID: " request-id ]
        [ LF %s"Resources:" resources ]

A message is verified against the exact text that was signed (EIP-191 ``personal_sign``), never against a
re-rendering of it, so parsing only has to be strict, not canonicalising. Timestamps are kept as the text
that appears in the message; ``*_time`` properties give them as aware datetimes.

Only externally owned accounts are supported: the signature is an ECDSA signature recovered with
eth-account (contract wallets' EIP-1271 signatures would need a chain call).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from hftplatform.core.utc import utc_aware

HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
VERSION = "1"
# Far above any real message; bounds the work a hostile one can cause.
MAX_MESSAGE_LENGTH = 16_384


class SiweError(ValueError):
    """Base class: every refusal in this module is one of these, with a sentence for people."""


class SiweMessageInvalid(SiweError):
    """The text is not an EIP-4361 message, or a field breaks the grammar."""


class SiweAddressInvalid(SiweMessageInvalid):
    """Not a 20-byte hex address, or a mixed-case address whose EIP-55 checksum is wrong."""


class SiweSignatureInvalid(SiweError):
    """The signature is not a well-formed 65-byte ECDSA signature, or recovers no key."""


class SiweSignatureMismatch(SiweError):
    """The signature is valid but was made by another key than the message's address."""


class SiweMessageExpired(SiweError):
    """Now is at or after the message's Expiration Time."""


class SiweMessageNotYetValid(SiweError):
    """Now is before the message's Not Before time."""


# -- RFC 3986 / RFC 3339 / EIP-4361 productions as regular expressions ------------------------------------

_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_GEN_DELIMS = r":/?#\[\]@"
_PCT_ENCODED = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT_ENCODED})"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*"
_USERINFO = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT_ENCODED})*"
_IP_LITERAL = r"\[[0-9A-Za-z:.\-_~!$&'()*+,;=]+\]"  # IPv6address / IPvFuture; IPv6 is re-checked below
_REG_NAME = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT_ENCODED})*"  # IPv4address is a subset
_PORT = r"[0-9]*"
_AUTHORITY = rf"(?:{_USERINFO}@)?(?:{_IP_LITERAL}|{_REG_NAME})(?::{_PORT})?"
_SEGMENT = rf"{_PCHAR}*"
_SEGMENT_NZ = rf"{_PCHAR}+"
_HIER_PART = (
    rf"(?://{_AUTHORITY}(?:/{_SEGMENT})*"  # "//" authority path-abempty
    rf"|/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"  # path-absolute
    rf"|{_SEGMENT_NZ}(?:/{_SEGMENT})*"  # path-rootless
    r"|)"  # path-empty
)
_QUERY_OR_FRAGMENT = rf"(?:{_PCHAR}|[/?])*"

SCHEME_RE = re.compile(_SCHEME)
# The domain must name a host: RFC 3986 allows an empty reg-name, EIP-4361 messages need one.
DOMAIN_RE = re.compile(
    rf"(?:(?P<userinfo>{_USERINFO})@)?(?P<host>{_IP_LITERAL}|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT_ENCODED})+)"
    rf"(?::{_PORT})?"
)
URI_RE = re.compile(rf"{_SCHEME}:{_HIER_PART}(?:\?{_QUERY_OR_FRAGMENT})?(?:#{_QUERY_OR_FRAGMENT})?")
ADDRESS_RE = re.compile(r"0x[0-9A-Fa-f]{40}")
# At least one character: an empty statement would make "address LF LF LF LF" ambiguous.
STATEMENT_RE = re.compile(rf"[{_UNRESERVED}{_GEN_DELIMS}{_SUB_DELIMS} ]+")
NONCE_RE = re.compile(r"[A-Za-z0-9]{8,}")
CHAIN_ID_RE = re.compile(r"[0-9]+")
REQUEST_ID_RE = re.compile(rf"{_PCHAR}*")
DATE_TIME_RE = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
)
SIGNATURE_RE = re.compile(r"0x[0-9A-Fa-f]{130}")


# -- field helpers ------------------------------------------------------------------------------------------


def checksum_address(value: str) -> str:
    """The EIP-55 form of ``value``: 0x and 40 hex digits, in one case, or mixed-case with a valid checksum."""
    if not isinstance(value, str) or not ADDRESS_RE.fullmatch(value):
        raise SiweAddressInvalid("An address is 0x followed by 40 hexadecimal digits.")
    # Imported here: eth-utils and eth-account take about a second to import, and every process (web, worker,
    # beat, each manage.py command) loads this module with the app registry whether it links a wallet or not.
    from eth_utils.address import is_checksum_address, to_checksum_address

    digits = value[2:]
    mixed_case = digits != digits.lower() and digits != digits.upper()
    if mixed_case and not is_checksum_address(value):
        raise SiweAddressInvalid(f"{value} has a wrong EIP-55 checksum: check it was copied exactly.")
    return to_checksum_address(value)


def parse_datetime(value: str) -> datetime:
    """An RFC 3339 ``date-time`` as an aware datetime (fractions beyond microseconds are truncated)."""
    match = DATE_TIME_RE.fullmatch(value)
    if not match:
        raise SiweMessageInvalid(f"{value!r} is not an RFC 3339 date-time such as 2021-09-30T16:25:24Z.")
    parts = {name: int(text) for name, text in match.groupdict().items() if text and text.isdigit()}
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    offset = timedelta(0)
    if match["sign"]:
        if parts["offset_hour"] > 23 or parts["offset_minute"] > 59:
            raise SiweMessageInvalid(f"{value!r} has an out-of-range time offset.")
        offset = timedelta(hours=parts["offset_hour"], minutes=parts["offset_minute"])
        if match["sign"] == "-":
            offset = -offset
    # RFC 3339 allows a leap second (60): it is the instant after :59.
    leap = parts["second"] == 60
    try:
        moment = datetime(
            parts["year"],
            parts["month"],
            parts["day"],
            parts["hour"],
            parts["minute"],
            59 if leap else parts["second"],
            int(fraction),
            tzinfo=timezone(offset),
        )
        return (moment + timedelta(seconds=1) if leap else moment).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise SiweMessageInvalid(f"{value!r} is not a valid date and time: {exc}.") from None


def format_datetime(moment: datetime) -> str:
    """An aware datetime as RFC 3339 in UTC with a ``Z``; whole seconds unless it has microseconds."""
    moment = utc_aware(moment, what="format_datetime's moment")
    timespec = "microseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def _check_domain(domain: str) -> None:
    match = DOMAIN_RE.fullmatch(domain) if isinstance(domain, str) else None
    if not match:
        raise SiweMessageInvalid(f"{domain!r} is not a valid domain (an RFC 3986 authority such as example.com).")
    host = match["host"]
    if host.startswith("[") and host[1:2].lower() != "v":
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SiweMessageInvalid(f"{domain!r} has an invalid IPv6 address.") from None


def _check(pattern: re.Pattern[str], value: object, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SiweMessageInvalid(f"{value!r} is not a valid {what}.")


# -- the message --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiweMessage:
    """One EIP-4361 message; every field is checked against the grammar on construction."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    scheme: str | None = None
    statement: str | None = None
    version: str = VERSION
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] | None = None  # None: no "Resources:" line; (): the line with no resources

    def __post_init__(self) -> None:
        if self.scheme is not None:
            _check(SCHEME_RE, self.scheme, "URI scheme")
        _check_domain(self.domain)
        if checksum_address(self.address) != self.address:
            raise SiweAddressInvalid(
                f"{self.address} is not EIP-55 checksummed: expected {checksum_address(self.address)}."
            )
        if self.statement is not None:
            _check(STATEMENT_RE, self.statement, "statement (one line of RFC 3986 reserved/unreserved characters)")
        _check(URI_RE, self.uri, "URI")
        if self.version != VERSION:
            raise SiweMessageInvalid(f"Version must be {VERSION}, got {self.version!r}.")
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int) or self.chain_id < 0:
            raise SiweMessageInvalid(f"{self.chain_id!r} is not a valid chain ID (a non-negative integer).")
        _check(NONCE_RE, self.nonce, "nonce (at least 8 letters and digits)")
        for timestamp in (self.issued_at, self.expiration_time, self.not_before):
            if timestamp is not None:
                parse_datetime(timestamp)
        if self.request_id is not None:
            _check(REQUEST_ID_RE, self.request_id, "request ID")
        if self.resources is not None:
            if not isinstance(self.resources, tuple):
                raise SiweMessageInvalid("resources must be a tuple of URIs.")
            for resource in self.resources:
                _check(URI_RE, resource, "resource URI")

    @property
    def issued_at_time(self) -> datetime:
        return parse_datetime(self.issued_at)

    @property
    def expiration(self) -> datetime | None:
        return parse_datetime(self.expiration_time) if self.expiration_time is not None else None

    @property
    def not_before_time(self) -> datetime | None:
        return parse_datetime(self.not_before) if self.not_before is not None else None

    def check_time(self, now: datetime) -> None:
        """Refuse a message that has expired or is not valid yet at ``now`` (aware)."""
        expiration = self.expiration
        if expiration is not None and now >= expiration:
            raise SiweMessageExpired(f"The message expired at {self.expiration_time}.")
        not_before = self.not_before_time
        if not_before is not None and now < not_before:
            raise SiweMessageNotYetValid(f"The message is not valid before {self.not_before}.")

    def text(self) -> str:
        """The message exactly as the wallet shows and signs it."""
        return build(self)


def build(message: SiweMessage) -> str:
    prefix = f"{message.scheme}://" if message.scheme is not None else ""
    lines = [f"{prefix}{message.domain}{HEADER_SUFFIX}", message.address, ""]
    if message.statement is not None:
        lines.append(message.statement)
    lines += [
        "",
        f"URI: {message.uri}",
        f"Version: {message.version}",
        f"Chain ID: {message.chain_id}",
        f"Nonce: {message.nonce}",
        f"Issued At: {message.issued_at}",
    ]
    if message.expiration_time is not None:
        lines.append(f"Expiration Time: {message.expiration_time}")
    if message.not_before is not None:
        lines.append(f"Not Before: {message.not_before}")
    if message.request_id is not None:
        lines.append(f"Request ID: {message.request_id}")
    if message.resources is not None:
        lines.append("Resources:")
        lines += [f"- {resource}" for resource in message.resources]
    return "\n".join(lines)


class _Lines:
    """Walks the message line by line, naming the line in every error."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.index = 0

    def error(self, expected: str) -> SiweMessageInvalid:
        if self.index >= len(self.lines):
            return SiweMessageInvalid(f"The message ends early: expected {expected} on line {self.index + 1}.")
        return SiweMessageInvalid(f"Line {self.index + 1}: expected {expected}, got {self.lines[self.index]!r}.")

    def peek(self) -> str | None:
        return self.lines[self.index] if self.index < len(self.lines) else None

    def take(self) -> str:
        line = self.lines[self.index]
        self.index += 1
        return line

    def field(self, tag: str, expected: str) -> str:
        line = self.peek()
        if line is None or not line.startswith(tag):
            raise self.error(expected)
        return self.take()[len(tag) :]

    def optional_field(self, tag: str) -> str | None:
        line = self.peek()
        if line is None or not line.startswith(tag):
            return None
        return self.take()[len(tag) :]

    def blank(self) -> None:
        if self.peek() != "":
            raise self.error("an empty line")
        self.take()


def _field_error(lines: _Lines, exc: SiweMessageInvalid) -> SiweMessageInvalid:
    return type(exc)(f"Line {lines.index}: {exc}")


def parse(text: str) -> SiweMessage:
    """Parse an EIP-4361 message; raise ``SiweMessageInvalid`` naming the first line that breaks the grammar."""
    if not isinstance(text, str):
        raise SiweMessageInvalid("A message is text.")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise SiweMessageInvalid(f"The message is longer than {MAX_MESSAGE_LENGTH} characters.")
    lines = _Lines(text)

    def checked(tag: str, expected: str, check: re.Pattern[str] | None = None, what: str = "") -> str:
        value = lines.field(tag, expected)
        if check is not None and not check.fullmatch(value):
            raise SiweMessageInvalid(f"Line {lines.index}: {value!r} is not a valid {what}.")
        return value

    header = lines.peek()
    if header is None or not header.endswith(HEADER_SUFFIX):
        raise lines.error(f"'<domain>{HEADER_SUFFIX}'")
    lines.take()
    origin = header[: -len(HEADER_SUFFIX)]
    scheme: str | None = None
    if "://" in origin:
        scheme, origin = origin.split("://", 1)
        if not SCHEME_RE.fullmatch(scheme):
            raise SiweMessageInvalid(f"Line 1: {scheme!r} is not a valid URI scheme.")
    try:
        _check_domain(origin)
    except SiweMessageInvalid as exc:
        raise _field_error(lines, exc) from None

    address_line = lines.peek()
    if address_line is None:
        raise lines.error("the address")
    lines.take()
    try:
        address = checksum_address(address_line)
    except SiweAddressInvalid as exc:
        raise _field_error(lines, exc) from None
    if address != address_line:
        raise SiweAddressInvalid(f"Line 2: {address_line} is not EIP-55 checksummed: expected {address}.")
    lines.blank()

    statement: str | None = None
    if lines.peek() != "":
        statement = checked("", "a statement", STATEMENT_RE, "statement (one line, RFC 3986 characters)")
        if statement.startswith("URI: ") and lines.peek() != "":
            # The commonest slip: "address LF LF URI" lacks the second empty line the grammar requires.
            raise SiweMessageInvalid(
                f"Line {lines.index}: expected an empty line before 'URI: ' "
                "(without a statement, two empty lines follow the address)."
            )
    lines.blank()

    uri = checked("URI: ", "'URI: <uri>'", URI_RE, "URI")
    version = checked("Version: ", f"'Version: {VERSION}'")
    if version != VERSION:
        raise SiweMessageInvalid(f"Line {lines.index}: Version must be {VERSION}, got {version!r}.")
    chain_id = checked("Chain ID: ", "'Chain ID: <chain id>'", CHAIN_ID_RE, "chain ID (digits)")
    nonce = checked("Nonce: ", "'Nonce: <nonce>'", NONCE_RE, "nonce (at least 8 letters and digits)")
    issued_at = checked("Issued At: ", "'Issued At: <RFC 3339 date-time>'")
    try:
        parse_datetime(issued_at)
    except SiweMessageInvalid as exc:
        raise _field_error(lines, exc) from None

    optional: dict[str, str | None] = {}
    for name, tag in (("expiration_time", "Expiration Time: "), ("not_before", "Not Before: ")):
        optional[name] = value = lines.optional_field(tag)
        if value is not None:
            try:
                parse_datetime(value)
            except SiweMessageInvalid as exc:
                raise _field_error(lines, exc) from None
    request_id = lines.optional_field("Request ID: ")
    if request_id is not None and not REQUEST_ID_RE.fullmatch(request_id):
        raise SiweMessageInvalid(f"Line {lines.index}: {request_id!r} is not a valid request ID.")

    resources: tuple[str, ...] | None = None
    if lines.peek() == "Resources:":
        lines.take()
        collected = []
        while lines.peek() is not None:
            collected.append(checked("- ", "'- <resource URI>'", URI_RE, "resource URI"))
        resources = tuple(collected)

    if lines.peek() is not None:
        raise lines.error("the end of the message (optional fields come in the spec's order)")

    return SiweMessage(
        scheme=scheme,
        domain=origin,
        address=address,
        statement=statement,
        uri=uri,
        version=version,
        chain_id=int(chain_id),
        nonce=nonce,
        issued_at=issued_at,
        expiration_time=optional["expiration_time"],
        not_before=optional["not_before"],
        request_id=request_id,
        resources=resources,
    )


# -- signatures ---------------------------------------------------------------------------------------------


def recover_signer(text: str, signature: str) -> str:
    """The EIP-55 address whose key made ``signature`` (65 bytes, hex) over ``text`` with EIP-191 personal_sign."""
    if not isinstance(signature, str) or not SIGNATURE_RE.fullmatch(signature):
        raise SiweSignatureInvalid("A signature is 0x followed by 130 hexadecimal digits (65 bytes).")
    from eth_account import Account  # imported here: see checksum_address
    from eth_account.messages import encode_defunct
    from eth_utils.address import to_checksum_address

    raw = bytearray(bytes.fromhex(signature[2:]))
    # Some wallets (hardware ones especially) report v as 0/1 rather than 27/28.
    if raw[64] in (0, 1):
        raw[64] += 27
    try:
        recovered = Account.recover_message(encode_defunct(text=text), signature=bytes(raw))
    except Exception as exc:  # eth-keys raises several types for a signature that recovers no key
        raise SiweSignatureInvalid(f"The signature recovers no key: {exc}.") from None
    return to_checksum_address(recovered)


def verify(text: str, signature: str) -> SiweMessage:
    """Parse ``text`` and check ``signature`` was made by its address; time and nonce are the caller's to check."""
    message = parse(text)
    signer = recover_signer(text, signature)
    if signer != message.address:
        raise SiweSignatureMismatch(f"The message was signed by {signer}, not by {message.address}.")
    return message
