"""Several Binance kline archives imported at once, each on a thread with a database connection of its own.

One archive import is mostly PostgreSQL work (COPY, the checks, the insert into the kline table's key index) on a
single backend, so one connection keeps one core busy; a downloader that fetched many months has them imported
concurrently here, and the server spreads the backends over the machine's cores. The Python side (sha256, unzip,
the COPY stream) releases the GIL for its heavy parts.

Every item is one :func:`marketdata.services.archive_import` call in its own transaction, committed on its own
connection: the caller must not hold a transaction open (its uncommitted rows are invisible to the workers, and a
lock it holds on an instrument would block them for ever), so calling this inside ``atomic`` raises.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, connections

from marketdata import services
from marketdata.core.archives import ArchiveError
from marketdata.services import ArchiveResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ArchiveItem:
    """One fetched archive: ``period`` ``YYYY-MM`` or ``YYYY-MM-DD``, the zip as downloaded and its ``.CHECKSUM``
    text (arguments of :func:`marketdata.services.archive_import`)."""

    instrument_id: int
    interval: str
    period: str
    url: str
    zip_bytes: bytes
    checksum_text: str


def archives_import_many(*, items: Sequence[ArchiveItem], workers: int = 2) -> list[ArchiveResult | ArchiveError]:
    """Import ``items`` on ``workers`` threads, each with its own database connection (closed when it is done).

    Returns one entry per item, in the input order: the :class:`~marketdata.services.ArchiveResult`, or the
    :class:`~marketdata.core.archives.ArchiveError` that refused it (a failed item wrote nothing). Any other
    failure of one item (an unknown instrument, a database error) comes back as an ``ArchiveError`` too, with the
    original exception as its ``__cause__``: one item's error never stops or undoes the others.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if connection.in_atomic_block:
        raise RuntimeError("archives_import_many commits on connections of its own: call it outside a transaction")
    results: list[ArchiveResult | ArchiveError | None] = [None] * len(items)
    pending = iter(range(len(items)))
    take = threading.Lock()

    def work() -> None:
        try:
            while True:
                with take:
                    index = next(pending, None)
                if index is None:
                    return
                results[index] = _import_one(items[index])
        finally:
            # Django opened this thread's connection on first use; nobody else will close it.
            connections.close_all()

    threads = [
        threading.Thread(target=work, name=f"archive-import-{n}", daemon=True) for n in range(min(workers, len(items)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def _import_one(item: ArchiveItem) -> ArchiveResult | ArchiveError:
    try:
        return services.archive_import(
            instrument_id=item.instrument_id,
            interval=item.interval,
            period=item.period,
            url=item.url,
            zip_bytes=item.zip_bytes,
            checksum_text=item.checksum_text,
        )
    except ArchiveError as error:
        return error
    except Exception as error:  # one item's failure is its own result, never the batch's
        logger.exception("archive %s failed", item.url)
        wrapped = ArchiveError(f"{item.url}: {type(error).__name__}: {error}")
        wrapped.__cause__ = error
        return wrapped
