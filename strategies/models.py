"""Strategy state: configurations, runs (backtest, paper, live) with progress and results, each run's ledger, NAV
points and risk refusals, and parameter sweeps / walk-forward studies.

Money is ``NUMERIC`` without a typmod (:class:`~hftplatform.fields.ExactNumericField`): the engine's exact
``Decimal`` goes in and comes back unchanged. Times are integer milliseconds UTC, as the engine counts them.
"""

from __future__ import annotations

from django.db import models

from hftplatform.fields import ExactNumericField


class StrategyConfig(models.Model):
    """A named, reusable configuration: which strategy, on which markets, with which parameters, costs and limits.
    A configuration attached to a vault is what that vault trades (paper or live)."""

    name = models.CharField(max_length=100, unique=True)
    strategy = models.CharField(max_length=32, help_text="A registered strategy's name: hold, leadlag, ...")
    exchanges = models.JSONField(default=list, help_text="Venue names in order: the first is the traded default.")
    symbol = models.CharField(max_length=64)
    interval = models.CharField(max_length=4)
    parameters = models.JSONField(default=dict)
    cost_model = models.JSONField(default=dict)
    risk_limits = models.JSONField(default=dict)
    vault = models.ForeignKey(
        "vaults.Vault", null=True, blank=True, on_delete=models.PROTECT, related_name="strategy_configs"
    )
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="strategy_configs"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.strategy})"


class StrategySweep(models.Model):
    """A parameter sweep or a walk-forward study: many backtests of one strategy over a grid of parameters, fanned
    out over Celery workers, with progress and the per-point (per-split) results."""

    class Kind(models.TextChoices):
        SWEEP = "sweep"
        WALKFORWARD = "walkforward"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    strategy = models.CharField(max_length=32)
    markets = models.JSONField(default=list, help_text="[{exchange, symbol, instrument_id}]")
    interval = models.CharField(max_length=4)
    start_ms = models.BigIntegerField()
    end_ms = models.BigIntegerField()
    parameters = models.JSONField(default=dict, help_text="Fixed parameters.")
    grid = models.JSONField(default=dict, help_text="Swept parameters: name -> list of values.")
    cost_model = models.JSONField(default=dict)
    cash = ExactNumericField()
    splits = models.JSONField(default=dict, blank=True, help_text="Walk-forward: scheme, windows, objective.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="strategy_sweeps"
    )
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(start_ms__lt=models.F("end_ms")), name="sweep_window_nonempty"),
        ]
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} {self.strategy} ({self.status})"


class StrategyRun(models.Model):
    """One run of a strategy in one mode: its inputs (markets, window, parameters, cost model, limits, cash), its
    progress, and its result (metrics, attribution, benchmark). Paper and live runs also keep the engine's state and
    the last event they processed, so a restarted worker resumes without a duplicate or a lost fill."""

    class Mode(models.TextChoices):
        BACKTEST = "backtest"
        PAPER = "paper"
        LIVE = "live"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        STOPPED = "stopped"

    config = models.ForeignKey(StrategyConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    sweep = models.ForeignKey(StrategySweep, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    strategy = models.CharField(max_length=32)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.BACKTEST)
    markets = models.JSONField(default=list, help_text="[{exchange, symbol, instrument_id}] in the run's order.")
    interval = models.CharField(max_length=4)
    start_ms = models.BigIntegerField(help_text="Window start, ms UTC, inclusive.")
    end_ms = models.BigIntegerField(null=True, blank=True, help_text="Window end, ms UTC, exclusive; paper: none.")
    parameters = models.JSONField(default=dict)
    cost_model = models.JSONField(default=dict)
    risk_limits = models.JSONField(default=dict)
    cash = ExactNumericField(help_text="Starting cash in the numeraire.")
    numeraire = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    final_nav = ExactNumericField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="metrics, attribution, benchmark, counts.")
    state = models.JSONField(default=dict, blank=True, help_text="Paper/live: strategy state and open orders.")
    last_event_ms = models.BigIntegerField(null=True, blank=True, help_text="Paper/live: the last step processed.")
    error = models.TextField(blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per stage: read, run, store.")
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="strategy_runs"
    )
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_ms__isnull=True) | models.Q(start_ms__lt=models.F("end_ms")),
                name="strategy_run_window_nonempty",
            ),
            models.CheckConstraint(condition=models.Q(cash__gt=0), name="strategy_run_cash_positive"),
        ]
        indexes = [models.Index(fields=["mode", "status"], name="strategy_run_mode_status")]
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.mode} run {self.pk} {self.strategy} ({self.status})"


class StrategyLedgerEntry(models.Model):
    """One row of a run's ledger (:class:`strategies.core.portfolio.LedgerEntry`), numbered from 0 in booking
    order; the run's positions and cash are the fold of these rows."""

    run = models.ForeignKey(StrategyRun, on_delete=models.CASCADE, related_name="ledger")
    seq = models.PositiveIntegerField()
    time_ms = models.BigIntegerField()
    kind = models.CharField(max_length=10)
    venue = models.CharField(max_length=16)
    symbol = models.CharField(max_length=64, blank=True)
    side = models.CharField(max_length=4, blank=True)
    quantity = ExactNumericField()
    price = ExactNumericField()
    fee = ExactNumericField()
    fee_asset = models.CharField(max_length=16, blank=True)
    amount = ExactNumericField(help_text="Cash change in the numeraire.")
    reference_price = ExactNumericField()
    slippage = ExactNumericField()
    tag = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="strategy_ledger_run_seq_unique")]
        ordering = ["run_id", "seq"]
        verbose_name_plural = "strategy ledger entries"

    def __str__(self) -> str:
        return f"run {self.run_id} #{self.seq} {self.kind} {self.side} {self.symbol}"


class StrategyNavPoint(models.Model):
    """NAV at one step of a run (quantized to 1e-8 of the numeraire), written with COPY."""

    pk = models.CompositePrimaryKey("run", "time_ms")
    # No database constraint and no index of its own (the primary key starts with the run): a year of 1m is 525,600
    # points, and PostgreSQL checking each one's run at commit cost more than writing them (as the klines' instrument
    # key, for the same reason). The points are written only by the run services, in the transaction that holds the
    # run's row lock; deleting a run through Django still deletes its points.
    run = models.ForeignKey(
        StrategyRun, on_delete=models.CASCADE, related_name="nav_points", db_constraint=False, db_index=False
    )
    time_ms = models.BigIntegerField()
    nav = ExactNumericField()
    exposed = models.BooleanField(default=False)

    class Meta:
        ordering = ["run_id", "time_ms"]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.time_ms} {self.nav}"


class StrategyRefusal(models.Model):
    """An intent the risk layer (or the venue) refused, with its reason."""

    run = models.ForeignKey(StrategyRun, on_delete=models.CASCADE, related_name="refusals")
    time_ms = models.BigIntegerField()
    market = models.CharField(max_length=96)
    side = models.CharField(max_length=16, blank=True)
    quantity = models.CharField(max_length=80, blank=True)
    reason = models.CharField(max_length=32)
    detail = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "time_ms"], name="strategy_refusal_lookup")]
        ordering = ["run_id", "time_ms", "id"]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.time_ms} {self.reason}"
