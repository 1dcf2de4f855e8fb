"""The real QuantCup score feed, replayed, writes the harness's expected files byte for byte; and the command."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from orderbook.matching.feed import (
    executions_csv,
    feed_csv,
    feed_generate,
    feed_read,
    feed_replay,
    final_book_csv,
    order_ids_csv,
)

SCORE_FEED_MESSAGES = 35759
SCORE_FEED_LIMITS = 17894
SCORE_FEED_EXECUTIONS = 33774
SCORE_FEED_RESTING = 622
SMALL_FEED = "msg,kind,symbol,trader,side,price,size_or_cancel_id\n0,limit,SYM,A,1,100,5\n1,limit,SYM,B,0,101,7\n"


def _replay(*args: str) -> str:
    stdout = io.StringIO()
    call_command("orderbook", "replay", *args, stdout=stdout)
    return stdout.getvalue()


@pytest.mark.parametrize("engine", ["compiled", "reference"])
@pytest.mark.parametrize("price_rule", ["maker", "aggressor"])
def test_score_feed_replay_writes_the_expected_files(quantcup_dir: Path, engine: str, price_rule: str) -> None:
    feed = feed_read(quantcup_dir / "score_feed.csv")
    result = feed_replay(feed, price_rule=price_rule, engine=engine)  # type: ignore[arg-type]
    assert (result.messages, len(result.order_ids)) == (SCORE_FEED_MESSAGES, SCORE_FEED_LIMITS)
    assert (len(result.executions), result.resting_orders) == (SCORE_FEED_EXECUTIONS, SCORE_FEED_RESTING)
    assert order_ids_csv(result.order_ids).encode() == (quantcup_dir / "expected_order_ids.csv").read_bytes()
    expected_executions = (quantcup_dir / f"expected_executions_{price_rule}_price.csv").read_bytes()
    assert executions_csv(result.executions).encode() == expected_executions
    assert final_book_csv(result.book).encode() == (quantcup_dir / "expected_final_book.csv").read_bytes()


def test_score_feed_reads_back_to_its_own_bytes(quantcup_dir: Path) -> None:
    path = quantcup_dir / "score_feed.csv"
    assert feed_csv(feed_read(path)).encode() == path.read_bytes()


@pytest.mark.parametrize("engine", ["compiled", "reference"])
@pytest.mark.parametrize("price_rule", ["maker", "aggressor"])
def test_command_replays_the_score_feed_into_the_expected_files(
    quantcup_dir: Path, tmp_path: Path, engine: str, price_rule: str
) -> None:
    # when the command replays the score feed into all three files
    output = _replay(
        str(quantcup_dir / "score_feed.csv"),
        "--price-rule",
        price_rule,
        "--engine",
        engine,
        "--executions",
        str(tmp_path / "executions.csv"),
        "--order-ids",
        str(tmp_path / "ids.csv"),
        "--final-book",
        str(tmp_path / "book.csv"),
    )
    # then each is byte for byte the harness's, and the summary counts what happened
    expected_executions = quantcup_dir / f"expected_executions_{price_rule}_price.csv"
    assert (tmp_path / "executions.csv").read_bytes() == expected_executions.read_bytes()
    assert (tmp_path / "ids.csv").read_bytes() == (quantcup_dir / "expected_order_ids.csv").read_bytes()
    assert (tmp_path / "book.csv").read_bytes() == (quantcup_dir / "expected_final_book.csv").read_bytes()
    summary = (
        rf"{SCORE_FEED_MESSAGES} messages, {SCORE_FEED_EXECUTIONS} executions, {SCORE_FEED_RESTING} resting orders, "
        rf"[1-9][\d,]* messages/s \({engine} engine, {price_rule} price\)\n"
    )
    assert re.fullmatch(summary, output)


def test_command_writes_only_the_files_asked_for(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text(SMALL_FEED)
    output = _replay(str(feed), "--price-rule", "aggressor", "--final-book", str(tmp_path / "book.csv"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["book.csv", "feed.csv"]
    assert (tmp_path / "book.csv").read_bytes() == (
        b"side,price,level_size,order_count,queue(order_id:trader:size)\n0,101,2,1,2:B:2\n"
    )
    assert output.startswith("2 messages, 2 executions, 1 resting orders, ")
    assert output.endswith(" messages/s (compiled engine, aggressor price)\n")


def test_command_replays_a_generated_feed_like_the_library(tmp_path: Path) -> None:
    feed = feed_generate(messages=3000, seed=7)
    path = tmp_path / "feed.csv"
    path.write_text(feed_csv(feed))
    _replay(str(path), "--price-rule", "maker", "--executions", str(tmp_path / "ex.csv"))
    result = feed_replay(feed, price_rule="maker", engine="reference")
    assert (tmp_path / "ex.csv").read_text() == executions_csv(result.executions)


@pytest.mark.parametrize(
    ("feed_text", "message"),
    [
        ("msg,kind\n", r"feed\.csv: line 1: the header must be"),
        (SMALL_FEED + "2,limit,SYM,C,0,0,5\n", r"feed\.csv: line 4: a limit's price must be in 1\.\.65535, got 0"),
        (SMALL_FEED + "2,modify,SYM,C,0,100,5\n", r"line 4: kind must be 'limit' or 'cancel', got 'modify'"),
        (SMALL_FEED + "2,limit,ETH,C,0,100,5\n", r"the feed names 2 symbols \(ETH, SYM\)"),
        ("", r"line 1: the feed is empty"),
    ],
)
def test_command_refuses_a_bad_feed_and_writes_nothing(tmp_path: Path, feed_text: str, message: str) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text(feed_text)
    with pytest.raises(CommandError, match=message):
        _replay(str(feed), "--price-rule", "maker", "--order-ids", str(tmp_path / "ids.csv"))
    assert not (tmp_path / "ids.csv").exists()


def test_command_refuses_a_missing_feed(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"missing\.csv: no such file"):
        _replay(str(tmp_path / "missing.csv"), "--price-rule", "maker")


def test_command_refuses_a_folder_as_feed(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"cannot read it \(Is a directory\)"):
        _replay(str(tmp_path), "--price-rule", "maker")


def test_command_refuses_a_feed_that_is_not_text(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_bytes(b"msg,kind,symbol,trader,side,price,size_or_cancel_id\n0,limit,SYM,\xff,0,100,5\n")
    with pytest.raises(CommandError, match=r"not UTF-8 text"):
        _replay(str(feed), "--price-rule", "maker")


def test_command_refuses_an_output_it_cannot_write(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text(SMALL_FEED)
    with pytest.raises(CommandError, match=r"nowhere[/\\]ids\.csv: cannot write it \(No such file or directory\)"):
        _replay(str(feed), "--price-rule", "maker", "--order-ids", str(tmp_path / "nowhere" / "ids.csv"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), r"the following arguments are required: \{replay,watch\}"),
        (("replay", "feed.csv"), r"the following arguments are required: --price-rule"),
        (("replay", "feed.csv", "--price-rule", "midpoint"), r"argument --price-rule: invalid choice: 'midpoint'"),
        (("replay", "feed.csv", "--price-rule", "maker", "--engine", "gpu"), r"argument --engine: invalid choice"),
    ],
)
def test_command_refuses_bad_arguments(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("orderbook", *args, stdout=io.StringIO())
