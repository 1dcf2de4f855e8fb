"""Recorded venue traffic in cryptofeed's capture format, read back as typed records.

cryptofeed writes one line per event, the receive time first (Unix seconds, as many decimals as it had):

* ``<ts>: <payload>`` a websocket message received;
* ``<url> <-> <ts>`` a websocket connection opened;
* ``<url> <- <ts>: <payload>`` a websocket message we sent (a subscription);
* ``<url> -> <ts>: <payload>`` an HTTP response (a REST snapshot), the request's URL first.

Payloads are JSON, read with ``parse_float=Decimal`` so a venue's bare numbers keep their exact value; times stay
``Decimal`` for the same reason. Blank lines (files end with them) are skipped; anything else is a
:class:`CaptureFormatError` naming the file and line.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path


class Direction(StrEnum):
    RECEIVED = "received"
    SENT = "sent"
    CONNECTED = "connected"
    HTTP = "http"


class CaptureFormatError(ValueError):
    """A line that is none of the four cryptofeed capture forms, or whose payload is not JSON."""


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    received_at: Decimal  # Unix seconds, exactly as recorded
    direction: Direction
    url: str | None  # the websocket or request URL; None for a received websocket message
    payload: object  # decoded JSON; None for CONNECTED
    line: int  # 1-based, in the file it came from


_TIME = r"(?P<ts>[0-9]+(?:\.[0-9]+)?)"
_LINE_FORMS = (
    (Direction.RECEIVED, re.compile(_TIME + r": (?P<payload>.*)")),
    (Direction.CONNECTED, re.compile(r"(?P<url>wss?://\S+) <-> " + _TIME)),
    (Direction.SENT, re.compile(r"(?P<url>wss?://\S+) <- " + _TIME + r": (?P<payload>.*)")),
    (Direction.HTTP, re.compile(r"(?P<url>https?://\S+) -> " + _TIME + r": (?P<payload>.*)")),
)


def _line_form(text: str) -> tuple[Direction, dict[str, str]] | None:
    for direction, pattern in _LINE_FORMS:
        match = pattern.fullmatch(text)
        if match is not None:
            return direction, match.groupdict()
    return None


def capture_parse(lines: Iterable[str], *, source: str = "<capture>") -> Iterator[CaptureRecord]:
    """The records of a capture's lines, in file order."""
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if not text.strip():
            continue
        form = _line_form(text)
        if form is None:
            raise CaptureFormatError(f"{source}:{number}: not a cryptofeed capture line: {text[:80]!r}")
        direction, groups = form
        payload: object = None
        if groups.get("payload") is not None:
            try:
                payload = json.loads(groups["payload"], parse_float=Decimal)
            except json.JSONDecodeError as error:
                raise CaptureFormatError(f"{source}:{number}: payload is not JSON: {error}") from None
        yield CaptureRecord(
            received_at=Decimal(groups["ts"]),
            direction=direction,
            url=groups.get("url"),
            payload=payload,
            line=number,
        )


def capture_read(path: Path) -> Iterator[CaptureRecord]:
    """Stream one capture file's records (the files run to megabytes; nothing is held beyond the current line)."""
    with path.open(encoding="utf-8") as lines:
        yield from capture_parse(lines, source=str(path))


def captures_interleave(*paths: Path) -> Iterator[CaptureRecord]:
    """Several captures of one session (e.g. the websocket file and the REST file) merged by receive time.

    Each file is already in time order; records with equal times keep the order of ``paths``.
    """
    return heapq.merge(*(capture_read(path) for path in paths), key=lambda record: record.received_at)
