"""Reading cryptofeed captures: the four line forms, exact times and numbers, errors that name the line."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from orderbook.l2.captures import (
    CaptureFormatError,
    CaptureRecord,
    Direction,
    capture_parse,
    capture_read,
    captures_interleave,
)

LINES = [
    "wss://stream.example.com:9443/stream?streams=a@depth <-> 1633998511.159679\n",
    'wss://stream.example.com:9443/stream?streams=a@depth <- 1633998511.2: {"op":"subscribe"}\n',
    '1633998512.0633569: {"e":"depthUpdate","p":1.10,"q":["0.35130000"]}\n',
    'https://api.example.com/api/v3/depth?symbol=A&limit=1000 -> 1633998512.320639: {"lastUpdateId":7}\n',
    "\n",
]


def test_each_line_form_is_read_with_its_exact_time_url_and_payload() -> None:
    records = list(capture_parse(LINES))

    assert records == [
        CaptureRecord(
            Decimal("1633998511.159679"),
            Direction.CONNECTED,
            "wss://stream.example.com:9443/stream?streams=a@depth",
            None,
            1,
        ),
        CaptureRecord(
            Decimal("1633998511.2"),
            Direction.SENT,
            "wss://stream.example.com:9443/stream?streams=a@depth",
            {"op": "subscribe"},
            2,
        ),
        CaptureRecord(
            Decimal("1633998512.0633569"),
            Direction.RECEIVED,
            None,
            {"e": "depthUpdate", "p": Decimal("1.10"), "q": ["0.35130000"]},
            3,
        ),
        CaptureRecord(
            Decimal("1633998512.320639"),
            Direction.HTTP,
            "https://api.example.com/api/v3/depth?symbol=A&limit=1000",
            {"lastUpdateId": 7},
            4,
        ),
    ]
    # A bare JSON number keeps its digits: no float ever holds a venue's price.
    assert str(records[2].payload["p"]) == "1.10"  # type: ignore[index]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("hello", "feed.log:2: not a cryptofeed capture line: 'hello'"),
        ("1633998512: {not json", "feed.log:2: payload is not JSON"),
        ("wss://x <- 1633998512", "feed.log:2: not a cryptofeed capture line"),
        ("ftp://x -> 1633998512: {}", "feed.log:2: not a cryptofeed capture line"),
        ("-1: {}", "feed.log:2: not a cryptofeed capture line"),
    ],
)
def test_a_line_of_no_known_form_is_refused_naming_file_and_line(line: str, message: str) -> None:
    with pytest.raises(CaptureFormatError, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        list(capture_parse(["1: {}\n", line + "\n"], source="feed.log"))


def test_windows_line_endings_and_trailing_blank_lines_read_the_same() -> None:
    crlf = [line.replace("\n", "\r\n") for line in LINES] + ["\r\n", "   \n"]

    assert list(capture_parse(crlf)) == list(capture_parse(LINES))


def test_the_recorded_files_hold_the_traffic_they_name(l2_captures_dir: Path) -> None:
    def directions(name: str) -> Counter[Direction]:
        return Counter(record.direction for record in capture_read(l2_captures_dir / name))

    assert directions("BINANCE.ws.1.0") == {Direction.CONNECTED: 1, Direction.RECEIVED: 265}
    assert directions("BINANCE.http.0.0") == {Direction.HTTP: 4}
    assert directions("COINBASE.ws.28.0") == {Direction.CONNECTED: 1, Direction.SENT: 3, Direction.RECEIVED: 9946}
    assert directions("KRAKEN.ws.50.0") == {Direction.CONNECTED: 1, Direction.SENT: 1, Direction.RECEIVED: 4321}
    assert directions("OKX.ws.1.0") == {Direction.CONNECTED: 1, Direction.SENT: 3, Direction.RECEIVED: 410}
    assert [record.url for record in capture_read(l2_captures_dir / "BINANCE.http.0.0")] == [
        f"https://api.binance.com/api/v3/depth?symbol={symbol}&limit=1000"
        for symbol in ("NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR")
    ]


def test_interleaving_the_rest_and_websocket_captures_orders_them_by_receive_time(l2_captures_dir: Path) -> None:
    records = list(captures_interleave(l2_captures_dir / "BINANCE.ws.1.0", l2_captures_dir / "BINANCE.http.0.0"))

    times = [record.received_at for record in records]
    assert len(records) == 270
    assert times == sorted(times)
    # Each snapshot came back after that symbol's first depth event: the documented order (buffer, then fetch).
    first_depth_at: dict[str, int] = {}
    snapshot_at: dict[str, int] = {}
    for index, record in enumerate(records):
        if record.direction is Direction.HTTP:
            assert record.url is not None
            snapshot_at[record.url.split("symbol=")[1].split("&")[0]] = index
        elif record.direction is Direction.RECEIVED and record.payload["data"].get("e") == "depthUpdate":  # type: ignore[index]
            first_depth_at.setdefault(record.payload["data"]["s"], index)  # type: ignore[index]
    assert snapshot_at == {"NKNUSDT": 2, "BLZETH": 16, "LRCBTC": 30, "RUNEEUR": 78}
    assert first_depth_at == {"NKNUSDT": 1, "BLZETH": 15, "LRCBTC": 29, "RUNEEUR": 77}
