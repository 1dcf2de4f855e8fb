"""The compiled engine against the reference on random feeds, and a generated-feed conformance run.

Prices stay in a narrow band so most arrivals cross, with the odd order at the extreme ticks 1 and 65535; cancels
name random ids, past (filled, cancelled, resting) and future alike. Nothing here needs ``../shared``.
"""

from __future__ import annotations

import io
from array import array
from pathlib import Path

import pytest
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from orderbook.matching._engine import MatchingEngine
from orderbook.matching.feed import (
    KIND_CANCEL,
    KIND_LIMIT,
    Feed,
    executions_csv,
    feed_csv,
    feed_generate,
    feed_parse,
    feed_replay,
    final_book_csv,
    order_ids_csv,
)
from orderbook.matching.reference import BookLevel, ReferenceEngine

# (kind, trader, side, price, size or cancelled id)
Message = tuple[int, str, int, int, int]
TRADERS = ("a", "b", "c")

limits = st.tuples(
    st.just(KIND_LIMIT),
    st.sampled_from(TRADERS),
    st.integers(0, 1),
    st.integers(100, 106) | st.integers(100, 106) | st.integers(100, 106) | st.sampled_from([1, 65535]),
    st.integers(1, 20) | st.integers(1, 20) | st.sampled_from([2**40, 2**63 - 1]),
)
cancels = st.tuples(st.just(KIND_CANCEL), st.sampled_from(TRADERS), st.just(0), st.just(0), st.integers(0, 70))
feeds = st.lists(limits | limits | cancels, max_size=60)
price_rules = st.sampled_from(["maker", "aggressor"])
OUTPUT_NAMES = ("executions.csv", "order_ids.csv", "book.csv")


TaggedExecution = tuple[int, str, int, int, int]  # (0-based message number, trader, side, price, size)


ReferenceRun = tuple[list[int], list[TaggedExecution], list[BookLevel]]


def _reference_run(messages: list[Message], price_rule: str) -> ReferenceRun:
    """Ids (0 for a cancel), executions tagged with their 0-based message number, and the final book."""
    engine = ReferenceEngine(price_rule)
    ids: list[int] = []
    executions: list[TaggedExecution] = []
    for number, (kind, trader, side, price, last) in enumerate(messages):
        if kind == KIND_LIMIT:
            ids.append(engine.limit(trader, side, price, last))
        else:
            engine.cancel(last)
            ids.append(0)
        executions += [(number, *execution) for execution in engine.take_executions()]
    return ids, executions, engine.book()


@settings(max_examples=300, deadline=None)
@given(messages=feeds, price_rule=price_rules)
def test_per_call_api_matches_the_reference(messages: list[Message], price_rule: str) -> None:
    reference, compiled = ReferenceEngine(price_rule), MatchingEngine(price_rule)
    for number, (kind, trader, side, price, last) in enumerate(messages):
        if kind == KIND_LIMIT:
            assert compiled.limit(trader, side, price, last) == reference.limit(trader, side, price, last)
        else:
            compiled.cancel(last)
            reference.cancel(last)
        assert compiled.take_executions() == reference.take_executions()
        if number == len(messages) // 2:
            assert compiled.book() == reference.book()
    assert compiled.book() == reference.book()
    assert compiled.messages == len(messages)


@settings(max_examples=300, deadline=None)
@given(messages=feeds, price_rule=price_rules, split=st.integers(0, 60))
def test_batch_api_matches_the_reference(messages: list[Message], price_rule: str, split: int) -> None:
    # given the reference's ids, executions and book
    ids, executions, book = _reference_run(messages, price_rule)
    # when the compiled engine replays the same messages in two batches
    engine = MatchingEngine(price_rule)
    codes = {trader: engine.trader_code(trader) for trader in TRADERS}
    compiled_ids = array("i")
    for chunk in (messages[:split], messages[split:]):
        compiled_ids += engine.replay(
            array("b", [kind for kind, *_ in chunk]),
            array("i", [codes[trader] for _, trader, *_ in chunk]),
            array("b", [side for _, _, side, _, _ in chunk]),
            array("i", [price for _, _, _, price, _ in chunk]),
            array("q", [last for *_, last in chunk]),
        )
    # then everything agrees, executions named by the engine's message numbers
    assert list(compiled_ids) == ids
    msg, trader, side, price, size = engine.take_execution_columns()
    names = engine.traders
    assert list(zip(msg, [names[code] for code in trader], side, price, size, strict=True)) == executions
    assert engine.book() == book
    assert engine.messages == len(messages)


@settings(max_examples=200, deadline=None)
@given(messages=feeds, price_rule=price_rules, first_msg=st.integers(0, 1000), step=st.integers(1, 3))
def test_feed_replay_gives_the_same_files_with_either_engine(
    messages: list[Message], price_rule: str, first_msg: int, step: int
) -> None:
    # given a feed whose msg column does not start at 0 nor count by one
    feed = Feed(
        msgs=array("q", range(first_msg, first_msg + step * len(messages), step)),
        kinds=array("b", [kind for kind, *_ in messages]),
        symbols=["XYZ"] * len(messages),
        traders=[trader for _, trader, *_ in messages],
        sides=array("b", [side for _, _, side, _, _ in messages]),
        prices=array("i", [price for _, _, _, price, _ in messages]),
        sizes_or_ids=array("q", [last for *_, last in messages]),
    )
    ids, executions, book = _reference_run(messages, price_rule)
    compiled = feed_replay(feed, price_rule=price_rule, engine="compiled")
    reference = feed_replay(feed, price_rule=price_rule, engine="reference")
    for result in (compiled, reference):
        assert result.order_ids == [(feed.msgs[n], i) for n, i in enumerate(ids) if messages[n][0] == KIND_LIMIT]
        assert result.executions.rows() == [(feed.msgs[n], "XYZ", *rest) for n, *rest in executions]
        assert result.book == book
        assert result.messages == len(messages)
    assert order_ids_csv(compiled.order_ids) == order_ids_csv(reference.order_ids)
    assert executions_csv(compiled.executions) == executions_csv(reference.executions)
    assert final_book_csv(compiled.book) == final_book_csv(reference.book)


@pytest.mark.parametrize("price_rule", ["maker", "aggressor"])
def test_generated_feed_conformance_through_the_command(tmp_path: Path, price_rule: str) -> None:
    # given a QuantCup-like generated feed on disk, and the files the reference engine writes for it
    feed = feed_generate(messages=8000, seed=20240601)
    assert feed_parse(feed_csv(feed).splitlines(keepends=True)) == feed
    path = tmp_path / "feed.csv"
    path.write_text(feed_csv(feed), encoding="utf-8", newline="\n")
    outputs = {}
    for engine in ("reference", "compiled"):
        folder = tmp_path / engine
        folder.mkdir()
        call_command(
            "orderbook",
            "replay",
            str(path),
            "--price-rule",
            price_rule,
            "--engine",
            engine,
            "--executions",
            str(folder / "executions.csv"),
            "--order-ids",
            str(folder / "order_ids.csv"),
            "--final-book",
            str(folder / "book.csv"),
            stdout=io.StringIO(),
        )
        outputs[engine] = {name: (folder / name).read_bytes() for name in OUTPUT_NAMES}
    # then the compiled engine's files are byte for byte the reference's, and the feed exercised matching
    assert outputs["compiled"] == outputs["reference"]
    executions = outputs["reference"]["executions.csv"].count(b"\n") - 1
    assert executions > 5000
    assert outputs["reference"]["order_ids.csv"].count(b"\n") - 1 == sum(1 for kind in feed.kinds if kind == KIND_LIMIT)
