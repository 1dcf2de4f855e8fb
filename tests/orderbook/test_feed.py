"""Reading feeds (every row validated, errors name the line) and writing the harness's file formats exactly."""

from __future__ import annotations

from array import array
from pathlib import Path

import pytest

from orderbook.matching.feed import (
    KIND_CANCEL,
    KIND_LIMIT,
    ExecutionColumns,
    Feed,
    FeedError,
    executions_csv,
    feed_generate,
    feed_parse,
    feed_read,
    feed_replay,
    final_book_csv,
    order_ids_csv,
)

HEADER = "msg,kind,symbol,trader,side,price,size_or_cancel_id\n"
EXECUTIONS_HEADER = "msg,symbol,trader,side,price,size\n"
BOOK_HEADER = "side,price,level_size,order_count,queue(order_id:trader:size)\n"
FEED = HEADER + "10,limit,SYM,ID1,1,4800,300\n11,cancel,SYM,ID2,0,0,7\n13,limit,SYM,ID2,0,4801,500\n"


def test_feed_is_read_into_columns() -> None:
    feed = feed_parse(FEED.splitlines(keepends=True))
    assert feed == Feed(
        msgs=array("q", [10, 11, 13]),
        kinds=array("b", [KIND_LIMIT, KIND_CANCEL, KIND_LIMIT]),
        symbols=["SYM", "SYM", "SYM"],
        traders=["ID1", "ID2", "ID2"],
        sides=array("b", [1, 0, 0]),
        prices=array("i", [4800, 0, 4801]),
        sizes_or_ids=array("q", [300, 7, 500]),
    )
    assert len(feed) == 3


def test_feed_file_with_windows_line_endings_and_a_byte_order_mark_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(b"\xef\xbb\xbf" + FEED.replace("\n", "\r\n").encode())
    assert feed_read(path) == feed_parse(FEED.splitlines())


def test_header_only_feed_replays_to_header_only_files() -> None:
    result = feed_replay(feed_parse([HEADER]), price_rule="maker")
    assert (result.messages, result.order_ids, len(result.executions), result.book) == (0, [], 0, [])
    assert order_ids_csv(result.order_ids) == "msg,order_id\n"
    assert executions_csv(result.executions) == "msg,symbol,trader,side,price,size\n"
    assert final_book_csv(result.book) == "side,price,level_size,order_count,queue(order_id:trader:size)\n"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("x,limit,SYM,ID1,0,100,5", "line 3: msg must be an integer, got 'x'"),
        ("-1,limit,SYM,ID1,0,100,5", "line 3: msg -1 is outside 0..9223372036854775807"),
        ("0,limit,SYM,ID1,0,100,5", "line 3: msg 0 does not increase (previous 0)"),
        ("1,limit,SYM,ID1,0,100", "line 3: expected 7 comma-separated fields, got 6"),
        ("1,limit,SYM,ID1,0,100,5,9", "line 3: expected 7 comma-separated fields, got 8"),
        ("", "line 3: expected 7 comma-separated fields, got 1"),
        ("1,Limit,SYM,ID1,0,100,5", "line 3: kind must be 'limit' or 'cancel', got 'Limit'"),
        ("1,limit,,ID1,0,100,5", "line 3: symbol is empty"),
        ("1,limit,SYM,,0,100,5", "line 3: trader is empty"),
        ("1,limit,SYM,ID 1,0,100,5", "line 3: trader 'ID 1' contains a space"),
        ("1,limit,SYM,ID:1,0,100,5", "line 3: trader 'ID:1' contains a space"),
        ("1,limit,SYM,ID1,2,100,5", "line 3: side must be 0 (buy) or 1 (sell), got 2"),
        ("1,limit,SYM,ID1,0, 100,5", "line 3: price must be an integer, got ' 100'"),
        ("1,limit,SYM,ID1,0,1_00,5", "line 3: price must be an integer, got '1_00'"),
        ("1,limit,SYM,ID1,0,100.5,5", "line 3: price must be an integer, got '100.5'"),
        ("1,limit,SYM,ID1,0,0,5", "line 3: a limit's price must be in 1..65535, got 0"),
        ("1,limit,SYM,ID1,0,65536,5", "line 3: a limit's price must be in 1..65535, got 65536"),
        ("1,limit,SYM,ID1,0,100,0", "line 3: a limit's size must be in 1..9223372036854775807, got 0"),
        ("1,limit,SYM,ID1,0,100,+5", "line 3: size must be an integer, got '+5'"),
        ("1,limit,SYM,ID1,0,100,9223372036854775808", "line 3: a limit's size must be in 1..9223372036854775807"),
        ("1,cancel,SYM,ID1,0,100,1", "line 3: a cancel's price must be 0, got 100"),
        ("1,cancel,SYM,ID1,0,0,-4", "line 3: a cancel's order id must be in 0..9223372036854775807, got -4"),
        ("1,cancel,SYM,ID1,0,0,", "line 3: cancel id must be an integer, got ''"),
    ],
)
def test_bad_row_is_refused_naming_its_line(rows: str, message: str) -> None:
    lines = [HEADER, "0,limit,SYM,ID1,0,100,5\n", rows + "\n", "99,limit,SYM,ID1,0,100,5\n"]
    with pytest.raises(FeedError) as raised:
        feed_parse(lines)
    assert str(raised.value).startswith(message)


def test_bad_header_is_refused() -> None:
    with pytest.raises(FeedError, match=r"^line 1: the header must be 'msg,kind,symbol,trader,side,price,size_or"):
        feed_parse(["msg,kind,symbol,trader,side,price,size\n", "0,limit,SYM,ID1,0,100,5\n"])


def test_empty_feed_is_refused() -> None:
    with pytest.raises(FeedError, match=r"^line 1: the feed is empty"):
        feed_parse([])


def test_feed_naming_two_symbols_is_not_replayed_into_one_book() -> None:
    feed = feed_parse([HEADER, "0,limit,BTC,A,0,100,5\n", "1,limit,ETH,B,1,100,5\n"])
    assert feed.symbols == ["BTC", "ETH"]
    with pytest.raises(FeedError, match=r"the feed names 2 symbols \(BTC, ETH\); one book per feed"):
        feed_replay(feed, price_rule="maker")


def test_replay_refuses_an_unknown_engine_or_price_rule() -> None:
    feed = feed_parse(FEED.splitlines())
    with pytest.raises(ValueError, match="engine must be one of"):
        feed_replay(feed, price_rule="maker", engine="gpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="price_rule must be"):
        feed_replay(feed, price_rule="mid")  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["compiled", "reference"])
def test_replay_names_executions_by_the_feed_msg_and_symbol(engine: str) -> None:
    # given a feed whose msg column has gaps, a cancel of a future id, and a sell that crosses two bids
    feed = feed_parse(
        [
            HEADER,
            "5,limit,XBT,A,0,100,3\n",
            "6,cancel,XBT,B,0,0,9\n",
            "9,limit,XBT,B,0,101,2\n",
            "20,limit,XBT,C,1,99,4\n",
        ]
    )
    # when it is replayed at aggressor prices
    result = feed_replay(feed, price_rule="aggressor", engine=engine)  # type: ignore[arg-type]
    # then rows carry the feed's msg numbers, and each file is exact
    assert result.order_ids == [(5, 1), (9, 2), (20, 3)]
    assert result.executions.rows() == [
        (20, "XBT", "B", 0, 99, 2),
        (20, "XBT", "C", 1, 99, 2),
        (20, "XBT", "A", 0, 99, 2),
        (20, "XBT", "C", 1, 99, 2),
    ]
    assert result.book == [(0, 100, ((1, "A", 1),))]
    assert (result.messages, result.resting_orders) == (4, 1)
    assert result.engine_seconds >= 0
    assert order_ids_csv(result.order_ids) == "msg,order_id\n5,1\n9,2\n20,3\n"
    assert executions_csv(result.executions) == (
        "msg,symbol,trader,side,price,size\n20,XBT,B,0,99,2\n20,XBT,C,1,99,2\n20,XBT,A,0,99,2\n20,XBT,C,1,99,2\n"
    )
    assert final_book_csv(result.book) == BOOK_HEADER + "0,100,1,1,1:A:1\n"


def test_final_book_lists_levels_with_their_totals_and_queues() -> None:
    book = [
        (0, 4809, ((17325, "ID7", 1000),)),
        (0, 4808, ((17166, "ID9", 87), (17168, "ID9", 100), (17169, "ID6", 131))),
        (1, 4842, ((7811, "ID1", 200),)),
    ]
    assert final_book_csv(book) == (
        "side,price,level_size,order_count,queue(order_id:trader:size)\n"
        "0,4809,1000,1,17325:ID7:1000\n"
        "0,4808,318,3,17166:ID9:87 17168:ID9:100 17169:ID6:131\n"
        "1,4842,200,1,7811:ID1:200\n"
    )


def test_executions_writer_takes_plain_lists_or_arrays() -> None:
    columns = ExecutionColumns([15, 15], ["SYM", "SYM"], ["ID9", "ID3"], array("b", [0, 1]), [4799, 4799], [200, 200])
    assert executions_csv(columns) == EXECUTIONS_HEADER + "15,SYM,ID9,0,4799,200\n15,SYM,ID3,1,4799,200\n"
    assert columns.rows() == [(15, "SYM", "ID9", 0, 4799, 200), (15, "SYM", "ID3", 1, 4799, 200)]


def test_generated_feed_is_deterministic_valid_and_crosses() -> None:
    feed = feed_generate(messages=2000, seed=3)
    assert feed == feed_generate(messages=2000, seed=3)
    assert feed != feed_generate(messages=2000, seed=4)
    assert list(feed.msgs) == list(range(2000))
    limits = sum(1 for kind in feed.kinds if kind == KIND_LIMIT)
    assert 800 < limits < 1200
    result = feed_replay(feed, price_rule="maker")
    assert len(result.executions) > limits  # two rows per fill: more rows than limits means most arrivals fill
