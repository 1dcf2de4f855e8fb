"""The shared machinery: CRC32 conventions, wire numbers, and a made-up checksum venue built from the parts.

The toy venue below is what a new checksum venue amounts to: a :class:`ChecksumScheme` (its top-N string and CRC32
convention) and a :class:`BookSync` subclass that reads its message shape. Everything else (verifying after each
applied message, the crossed check, truncation, counting, clearing on resync) is the shared code under test here.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderbook.l2.book import APPLIED, Action, ActionKind, L2Book, Level, ResyncReason, Side
from orderbook.l2.checksum import (
    BookFault,
    BookSync,
    ChecksumCounters,
    ChecksumScheme,
    Crc32,
    crc32,
    wire_decimal,
    wire_levels,
    wire_text,
)


def _toy_preimage(bids: Sequence[Level], asks: Sequence[Level]) -> str:
    return "|".join(f"{wire_text(price)}x{wire_text(size)}" for price, size in (*bids, *asks))


TOY = ChecksumScheme(depth=2, convention=Crc32.UNSIGNED, preimage=_toy_preimage)


class ToyBookSync(BookSync):
    """``{"type": "snapshot"|"update", "bids": [[p, s]], "asks": [[p, s]], "checksum": int}``, 3 levels a side."""

    def __init__(self) -> None:
        super().__init__(scheme=TOY, depth=3)

    def handle(self, msg: object) -> Action:
        if not isinstance(msg, dict) or msg.get("type") not in ("snapshot", "update"):
            return Action.ignored("not a book message")
        if "bids" not in msg or "asks" not in msg:
            raise BookFault(ResyncReason.MALFORMED, "a side is missing")
        bids, asks = wire_levels(msg["bids"], what="bids"), wire_levels(msg["asks"], what="asks")
        apply = self.snapshot_apply if msg["type"] == "snapshot" else self.update_apply
        return apply(bids, asks, checksum=msg.get("checksum"))


def _toy_crc(text: str) -> int:
    return zlib.crc32(text.encode())


def _toy_message(kind: str, bids: list[list[str]], asks: list[list[str]], checksum_text: str | None) -> object:
    message: dict[str, object] = {"type": kind, "bids": bids, "asks": asks}
    if checksum_text is not None:
        message["checksum"] = _toy_crc(checksum_text)
    return message


SNAPSHOT = _toy_message(
    "snapshot",
    [["100.0", "1"], ["99.5", "2.50"], ["99", "3"]],
    [["100.5", "4"], ["101", "5"]],
    # the best 2 of each side, bids then asks, exactly as sent
    "100.0x1|99.5x2.50|100.5x4|101x5",
)


def test_crc32_conventions_on_the_standard_check_value() -> None:
    # CRC-32/ISO-HDLC of "123456789" is 0xCBF43926; as a signed 32-bit integer that is -873187034.
    assert crc32("123456789", Crc32.UNSIGNED) == 0xCBF43926 == 3421780262
    assert crc32("123456789", Crc32.SIGNED) == 3421780262 - 2**32 == -873187034
    assert crc32("", Crc32.SIGNED) == crc32("", Crc32.UNSIGNED) == 0
    # below 2**31 the two conventions agree: CRC32("abc") is 0x352441C2
    assert crc32("abc", Crc32.SIGNED) == crc32("abc", Crc32.UNSIGNED) == 0x352441C2


@pytest.mark.parametrize("text", ["0", "7", "10", "0.5", "0.000022900", "30316", "13355.87450757", "0.00000050"])
def test_plain_decimal_strings_are_read_and_written_back_exactly(text: str) -> None:
    assert wire_text(wire_decimal(text, what="size")) == text


@pytest.mark.parametrize(
    "text",
    ["", "1e3", "1E-7", "-1", "+1", " 1", "1 ", "1_000", "NaN", "Infinity", "0x10", ".5", "5.", "01", "00.5", "1.2.3"],
)
def test_anything_but_a_plain_decimal_string_is_a_bad_number(text: str) -> None:
    with pytest.raises(BookFault) as raised:
        wire_decimal(text, what="size")
    assert raised.value.reason is ResyncReason.BAD_NUMBER


@pytest.mark.parametrize("value", [1, 2.5, None, Decimal("1"), ["1"]])
def test_a_number_that_is_not_a_string_is_a_bad_number(value: object) -> None:
    with pytest.raises(BookFault) as raised:
        wire_decimal(value, what="price")
    assert raised.value.reason is ResyncReason.BAD_NUMBER


@given(st.from_regex(r"(0|[1-9][0-9]{0,20})(\.[0-9]{1,20})?", fullmatch=True))
def test_every_plain_decimal_string_round_trips(text: str) -> None:
    assert wire_text(wire_decimal(text, what="price")) == text


def test_levels_are_read_whole_and_a_zero_price_is_refused() -> None:
    assert wire_levels([["1.50", "0"], ["2", "3", "ignored", "fields"]], what="bids") == [
        (Decimal("1.50"), Decimal("0")),
        (Decimal("2"), Decimal("3")),
    ]
    for raw, reason in [
        ([["0", "1"]], ResyncReason.BAD_NUMBER),
        ([["0.0", "1"]], ResyncReason.BAD_NUMBER),
        ([["1"]], ResyncReason.MALFORMED),
        ({"1": "2"}, ResyncReason.MALFORMED),
        ([("1", "2")], ResyncReason.MALFORMED),
    ]:
        with pytest.raises(BookFault) as raised:
            wire_levels(raw, what="asks")
        assert raised.value.reason is reason, raw


def test_the_scheme_reads_only_its_top_levels_best_first() -> None:
    book = L2Book()
    book.apply_many(Side.BID, [("99", "3"), ("100.0", "1"), ("99.5", "2.50")])
    book.apply_many(Side.ASK, [("101", "5"), ("100.5", "4"), ("102", "6")])
    assert TOY.text(book) == "100.0x1|99.5x2.50|100.5x4|101x5"
    assert TOY.checksum(book) == _toy_crc("100.0x1|99.5x2.50|100.5x4|101x5")


def test_a_snapshot_with_its_checksum_is_applied_and_counted() -> None:
    sync = ToyBookSync()
    assert sync.on_message(SNAPSHOT) == APPLIED
    assert sync.synced
    assert sync.book is not None
    assert sync.book.levels(Side.BID) == [
        (Decimal("100.0"), Decimal("1")),
        (Decimal("99.5"), Decimal("2.50")),
        (Decimal("99"), Decimal("3")),
    ]
    assert sync.counters == ChecksumCounters(snapshots_applied=1, checksums_verified=1)


def test_an_update_is_verified_after_it_is_applied_and_the_book_kept_to_depth() -> None:
    sync = ToyBookSync()
    sync.on_message(SNAPSHOT)
    # a new best bid pushes 99 out of the 3 kept levels; the removal of 100.5 promotes 101 and 102 on the ask side
    update = _toy_message(
        "update",
        [["100.2", "7"]],
        [["100.5", "0"], ["102", "6"]],
        "100.2x7|100.0x1|101x5|102x6",
    )
    assert sync.on_message(update) == APPLIED
    assert sync.book is not None
    assert [price for price, _ in sync.book.levels(Side.BID)] == [Decimal("100.2"), Decimal("100.0"), Decimal("99.5")]
    assert [price for price, _ in sync.book.levels(Side.ASK)] == [Decimal("101"), Decimal("102")]
    assert sync.counters == ChecksumCounters(snapshots_applied=1, applied=1, checksums_verified=2)


def test_a_checksum_mismatch_resyncs_and_clears_the_book() -> None:
    sync = ToyBookSync()
    sync.on_message(SNAPSHOT)
    update = _toy_message("update", [["100.0", "2"]], [], "100.0x1|99.5x2.50|100.5x4|101x5")  # the old book's sum

    action = sync.on_message(update)

    assert action.kind is ActionKind.RESYNC
    assert action.reason is ResyncReason.CHECKSUM_MISMATCH
    assert action.detail == f"venue checksum {_toy_crc('100.0x1|99.5x2.50|100.5x4|101x5')}, book gives " + str(
        _toy_crc("100.0x2|99.5x2.50|100.5x4|101x5")
    )
    assert (sync.synced, sync.book) == (False, None)
    assert sync.counters == ChecksumCounters(
        snapshots_applied=1, checksums_verified=1, resyncs=Counter({ResyncReason.CHECKSUM_MISMATCH: 1})
    )


def test_after_a_resync_updates_are_ignored_until_the_next_snapshot() -> None:
    sync = ToyBookSync()
    update = _toy_message("update", [["100.0", "2"]], [], "100.0x2|99.5x2.50|100.5x4|101x5")

    assert sync.on_message(update) == Action.ignored("update before a snapshot")
    assert sync.book is None
    assert sync.on_message(SNAPSHOT) == APPLIED
    assert sync.on_message(update) == APPLIED
    assert sync.counters == ChecksumCounters(snapshots_applied=1, applied=1, ignored=1, checksums_verified=2)


def test_a_message_without_a_checksum_is_counted_as_skipped() -> None:
    sync = ToyBookSync()
    assert sync.on_message(_toy_message("snapshot", [["1", "1"]], [["2", "1"]], None)) == APPLIED
    assert sync.counters == ChecksumCounters(snapshots_applied=1, checksums_skipped=1)


def test_a_crossed_book_with_a_matching_checksum_still_resyncs() -> None:
    sync = ToyBookSync()
    action = sync.on_message(_toy_message("snapshot", [["101", "1"]], [["100.5", "4"]], "101x1|100.5x4"))
    assert action == Action.resync(
        ResyncReason.CROSSED_BOOK,
        "best bid (Decimal('101'), Decimal('1')) >= best ask (Decimal('100.5'), Decimal('4'))",
    )
    assert sync.book is None
    assert sync.counters == ChecksumCounters(
        snapshots_rejected=1, checksums_verified=1, resyncs=Counter({ResyncReason.CROSSED_BOOK: 1})
    )


@pytest.mark.parametrize(
    ("bids", "reason"),
    [
        ([["100.0", "NaN"]], ResyncReason.BAD_NUMBER),
        ([["100.0", "-1"]], ResyncReason.BAD_NUMBER),
        ([["100.0", 1.5]], ResyncReason.BAD_NUMBER),
        ([["0", "1"]], ResyncReason.BAD_NUMBER),
        ([["100.0"]], ResyncReason.MALFORMED),
        ("100.0", ResyncReason.MALFORMED),
    ],
)
def test_a_corrupted_number_resyncs_without_touching_a_published_level(bids: object, reason: ResyncReason) -> None:
    sync = ToyBookSync()
    sync.on_message(SNAPSHOT)
    corrupted = {"type": "update", "bids": [["99", "0"], *bids] if isinstance(bids, list) else bids, "asks": []}

    action = sync.on_message(corrupted)

    assert (action.kind, action.reason) == (ActionKind.RESYNC, reason)
    assert (sync.synced, sync.book) == (False, None)
    assert sync.counters.resyncs == Counter({reason: 1})


def test_a_fault_raised_while_reading_is_a_resync_and_other_messages_are_ignored() -> None:
    sync = ToyBookSync()
    sync.on_message(SNAPSHOT)
    assert sync.on_message({"type": "update", "bids": []}) == Action.resync(ResyncReason.MALFORMED, "a side is missing")
    assert sync.on_message(["heartbeat"]) == Action.ignored("not a book message")
    assert sync.counters == ChecksumCounters(
        snapshots_applied=1, ignored=1, checksums_verified=1, resyncs=Counter({ResyncReason.MALFORMED: 1})
    )
