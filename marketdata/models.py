"""Market data state: instruments, klines (a partitioned table loaded with COPY), coverage, archives, download jobs.

Prices, sizes and volumes are PostgreSQL ``NUMERIC`` without precision or scale, so the venue's decimal text keeps
its scale: ``'0.01000000'`` goes in and comes out as ``'0.01000000'``. Candle times are integer milliseconds UTC.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from hftplatform.fields import ExactNumericField
from marketdata.core.venues import MarketType, Venue


class Instrument(models.Model):
    """A market on one venue: unified symbol (``BTC/USDT``, ``BTC/USDT:USDT``) and the venue's own symbol."""

    exchange = models.CharField(max_length=16, choices=[(v.value, v.value.title()) for v in Venue])
    market_type = models.CharField(max_length=8, choices=[(m.value, m.value) for m in MarketType])
    symbol = models.CharField(max_length=64, help_text="Unified symbol as ccxt writes it: BTC/USDT, BTC/USDT:USDT.")
    venue_symbol = models.CharField(max_length=64, help_text="The venue's own symbol: BTCUSDT, BTC-USD.")
    base = models.CharField(max_length=32)
    quote = models.CharField(max_length=32)
    settle = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001  (None: spot, no settle asset)
    tick_size = ExactNumericField(help_text="Price step, the venue's exact text.")
    lot_size = ExactNumericField(help_text="Quantity step, the venue's exact text.")
    listed_at = models.DateTimeField(null=True, blank=True, help_text="UTC; empty where the venue does not say.")
    active = models.BooleanField(default=True)
    tracked = models.BooleanField(default=False, help_text="Beat keeps its klines current up to the last close.")
    tracked_intervals = ArrayField(models.CharField(max_length=4), default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="instrument_exchange_symbol_unique"),
            models.UniqueConstraint(
                fields=["exchange", "market_type", "venue_symbol"], name="instrument_exchange_venue_symbol_unique"
            ),
        ]
        ordering = ["exchange", "symbol"]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol}"


class Kline(models.Model):
    """One candle. The table is created by SQL in migration 0001 (hash-partitioned on the instrument, primary key
    (instrument, interval, open_time)) and written only by ``marketdata.services`` with COPY; this unmanaged model
    is for admin and API reads."""

    pk = models.CompositePrimaryKey("instrument", "interval", "open_time")
    instrument = models.ForeignKey(Instrument, on_delete=models.DO_NOTHING, db_constraint=False)
    interval = models.CharField(max_length=4)
    open_time = models.BigIntegerField(help_text="Milliseconds since the epoch, UTC.")
    open = ExactNumericField()
    high = ExactNumericField()
    low = ExactNumericField()
    close = ExactNumericField()
    volume = ExactNumericField(help_text="Base-asset volume.")
    closed = models.BooleanField(help_text="False: the still-open candle, replaced when it closes.")

    class Meta:
        managed = False
        db_table = "marketdata_kline"
        ordering = ["instrument_id", "interval", "open_time"]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.interval} {self.open_time}"


class KlineCoverage(models.Model):
    """A half-open range ``[start_ms, end_ms)`` in which the venue was asked and answered. Ranges of one
    (instrument, interval) never overlap or touch: ``marketdata.services`` merges them on insert. A candle missing
    inside a covered range is one the venue does not have; outside, one not fetched yet."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="coverage")
    interval = models.CharField(max_length=4)
    start_ms = models.BigIntegerField()
    end_ms = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(start_ms__lt=models.F("end_ms")), name="coverage_nonempty"),
        ]
        indexes = [models.Index(fields=["instrument", "interval", "start_ms"], name="coverage_lookup")]
        ordering = ["instrument_id", "interval", "start_ms"]
        verbose_name_plural = "kline coverage"

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.interval} [{self.start_ms}, {self.end_ms})"


class KlineArchive(models.Model):
    """A Binance bulk archive (monthly ``YYYY-MM`` or daily ``YYYY-MM-DD``) that was imported, with the sha256 it
    had; a later different checksum for the same period means the venue replaced the file."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="archives")
    interval = models.CharField(max_length=4)
    period = models.CharField(max_length=10)
    url = models.URLField(max_length=500)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField()
    imported_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instrument", "interval", "period"], name="archive_period_unique"),
        ]
        ordering = ["instrument_id", "interval", "period"]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.interval} {self.period}"


class KlineDownloadJob(models.Model):
    """One CLI or beat download run, with its progress for the admin and the API."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    rows_written = models.PositiveBigIntegerField(default=0)
    rows_present = models.PositiveBigIntegerField(default=0)
    requests = models.PositiveBigIntegerField(default=0)
    retries = models.PositiveBigIntegerField(default=0)
    gaps_left = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"download job {self.pk} ({self.status})"


class LeadLagRun(models.Model):
    """One lead-lag analysis of a market across venues (``marketdata.core.leadlag``): its parameters, progress, the
    JSON report (``outputs``, see ``marketdata.core.leadlag.analysis.leadlag_report``), error and seconds per stage."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    symbol = models.CharField(max_length=64, help_text="Unified symbol of the first market (the one asked for).")
    interval = models.CharField(max_length=4)
    start_ms = models.BigIntegerField(help_text="Window start, ms UTC, inclusive.")
    end_ms = models.BigIntegerField(help_text="Window end, ms UTC, exclusive.")
    parameters = models.JSONField(default=dict, help_text="markets [{exchange, symbol, instrument_id}], max_lag, …")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    timings = models.JSONField(
        default=dict, blank=True, help_text="Seconds per stage: read, align, each method, store."
    )
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="leadlag_runs"
    )
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(start_ms__lt=models.F("end_ms")), name="leadlag_window_nonempty"),
        ]
        indexes = [models.Index(fields=["symbol", "interval", "start_ms"], name="leadlag_run_lookup")]
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"lead-lag run {self.pk} {self.symbol} {self.interval} ({self.status})"


class FundingRate(models.Model):
    """One settled funding event of a perpetual (Binance USD-M, Bybit linear) at the time the venue gives, which is
    no fixed grid (8 h, 4 h, 1 h, changing over a symbol's life). ``rate`` is the venue's exact text: positive, longs
    pay shorts (``marketdata.core.funding``). Written only by ``marketdata.services.funding``."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="funding_rates")
    funding_time = models.BigIntegerField(help_text="Milliseconds since the epoch, UTC.")
    rate = ExactNumericField(help_text="Per funding period, the venue's exact text; positive: longs pay shorts.")
    mark_price = ExactNumericField(
        null=True, blank=True, help_text="Mark price used; empty where the venue gives none."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instrument", "funding_time"], name="funding_rate_instrument_time_unique"),
        ]
        ordering = ["instrument_id", "funding_time"]

    def __str__(self) -> str:
        return f"{self.instrument_id} funding {self.funding_time}"


class FundingCoverage(models.Model):
    """A half-open range ``[start_ms, end_ms)`` in which the venue was asked for funding events and answered; merged
    on insert like :class:`KlineCoverage`. No event stored inside a covered range means the venue settled none."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="funding_coverage")
    start_ms = models.BigIntegerField()
    end_ms = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(start_ms__lt=models.F("end_ms")), name="funding_coverage_nonempty"
            ),
        ]
        indexes = [models.Index(fields=["instrument", "start_ms"], name="funding_coverage_lookup")]
        ordering = ["instrument_id", "start_ms"]
        verbose_name_plural = "funding coverage"

    def __str__(self) -> str:
        return f"{self.instrument_id} funding [{self.start_ms}, {self.end_ms})"
