"""Every write of market data, one module per flow:

- :mod:`~marketdata.services.klines`: candles stored with the window the venue answered for, coverage, deletes;
- :mod:`~marketdata.services.archives`: Binance bulk archives imported, checked against their ``.CHECKSUM``;
- :mod:`~marketdata.services.instruments`: a venue's market list upserted, markets tracked or not;
- :mod:`~marketdata.services.funding`: perpetuals' funding rates stored with the window the venue answered for;
- :mod:`~marketdata.services.download_jobs`: the downloader's jobs, their progress and end;
- :mod:`~marketdata.services.leadlag`: lead-lag runs created, executed, refreshed daily for tracked symbols.

Klines are keyed by (instrument, interval, open time in integer milliseconds UTC); prices and volumes are the
venue's decimal text, stored in NUMERIC columns without typmod so they read back unchanged. Both kline writers
(klines, archives) lock the instrument row first and write the kline table through
:mod:`~marketdata.services.kline_table` (COPY, not the ORM). Each service runs in one transaction: rows and the
coverage that vouches for them commit together, so a process killed at any moment leaves nothing half-recorded and
a re-run resumes from coverage. A write keyed by an instrument id that does not exist raises
:class:`~marketdata.services.instruments.InstrumentNotFound`.

This module names the public services of all flows, so a caller can write ``services.klines_store``.
"""

from marketdata.services.archives import ArchiveResult, archive_import
from marketdata.services.download_jobs import download_job_finish, download_job_progress, download_job_start
from marketdata.services.funding import FundingStoreResult, NotPerpetual, funding_rates_store
from marketdata.services.instruments import (
    InstrumentNotFound,
    instrument_create_from_symbol,
    instrument_set_tracked,
    instrument_upsert_many,
)
from marketdata.services.klines import StoreResult, coverage_add, klines_delete, klines_store
from marketdata.services.leadlag import (
    LeadLagError,
    LeadLagOverBudget,
    LeadLagProgress,
    LeadLagTooManyRuns,
    leadlag_refresh_tracked,
    leadlag_run_create,
    leadlag_run_execute,
)

__all__ = [
    "ArchiveResult",
    "FundingStoreResult",
    "InstrumentNotFound",
    "LeadLagError",
    "LeadLagOverBudget",
    "LeadLagProgress",
    "LeadLagTooManyRuns",
    "NotPerpetual",
    "StoreResult",
    "archive_import",
    "coverage_add",
    "download_job_finish",
    "download_job_progress",
    "download_job_start",
    "funding_rates_store",
    "instrument_create_from_symbol",
    "instrument_set_tracked",
    "instrument_upsert_many",
    "klines_delete",
    "klines_store",
    "leadlag_refresh_tracked",
    "leadlag_run_create",
    "leadlag_run_execute",
]
