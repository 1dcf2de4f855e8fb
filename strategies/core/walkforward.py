"""Walk-forward studies: split a time range into in-sample and out-of-sample windows, choose the best grid point
in each in-sample window by an objective, run it on the out-of-sample window that follows, and report the two
apart, with the out-of-sample NAVs stitched into one series.

Windows are half-open ``[start, end)`` in ms UTC over bar **open** times. An in-sample window ends where its
out-of-sample window starts, so every in-sample bar has closed by then: no out-of-sample bar (and no later one)
is seen while choosing. Schemes:

- **rolling**: in-sample ``[start + k*step, start + k*step + in_sample)``;
- **anchored**: in-sample ``[start, start + in_sample + k*step)``, growing;

each followed by out-of-sample ``[in_end, in_end + out_sample)``, for ``k = 0, 1, ...`` while that ends by
``end``. ``step`` defaults to ``out_sample`` (out-of-sample windows tile the range); it may not be shorter, or two
out-of-sample windows would overlap and the stitched series would count a bar twice.

Each out-of-sample run starts flat with the study's cash (a strategy's lookback warms up inside its window); the
stitched NAV chains them: each window's NAV is scaled to start where the previous one ended.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from strategies.core.vectorised import (
    AlignedBars,
    LeadLagPoint,
    PointSummary,
    SweepKernel,
    nav_statistics,
    number_json,
)

if TYPE_CHECKING:
    from strategies.core.data import FloatArray, IntArray


class WalkForwardError(ValueError):
    """Windows that do not fit the range, a step shorter than the out-of-sample window, an unknown objective."""


class Scheme(StrEnum):
    ROLLING = "rolling"
    ANCHORED = "anchored"


@dataclass(frozen=True, slots=True)
class Split:
    index: int
    in_start_ms: int
    in_end_ms: int
    out_start_ms: int
    out_end_ms: int

    def json(self) -> dict[str, int]:
        return {
            "index": self.index,
            "in_start_ms": self.in_start_ms,
            "in_end_ms": self.in_end_ms,
            "out_start_ms": self.out_start_ms,
            "out_end_ms": self.out_end_ms,
        }


def walkforward_splits(
    *,
    start_ms: int,
    end_ms: int,
    in_sample_ms: int,
    out_sample_ms: int,
    step_ms: int | None = None,
    scheme: Scheme = Scheme.ROLLING,
) -> list[Split]:
    """The splits of ``[start_ms, end_ms)`` (see the module's docstring); at least one, or
    :class:`WalkForwardError`."""
    step = out_sample_ms if step_ms is None else step_ms
    if in_sample_ms <= 0 or out_sample_ms <= 0 or step <= 0:
        raise WalkForwardError("in-sample, out-of-sample and step lengths must be positive")
    if step < out_sample_ms:
        raise WalkForwardError(
            f"step {step} ms is shorter than the out-of-sample window {out_sample_ms} ms: out-of-sample windows "
            "would overlap"
        )
    if end_ms <= start_ms:
        raise WalkForwardError("the range is empty")
    splits: list[Split] = []
    k = 0
    while True:
        if scheme is Scheme.ROLLING:
            in_start, in_end = start_ms + k * step, start_ms + k * step + in_sample_ms
        else:
            in_start, in_end = start_ms, start_ms + in_sample_ms + k * step
        out_end = in_end + out_sample_ms
        if out_end > end_ms:
            break
        splits.append(Split(k, in_start, in_end, in_end, out_end))
        k += 1
    if not splits:
        raise WalkForwardError(
            f"no split fits: in-sample {in_sample_ms} ms + out-of-sample {out_sample_ms} ms is longer than the range "
            f"({end_ms - start_ms} ms)"
        )
    return splits


# Objectives: higher is better. max_drawdown is negative, so the shallowest wins.
OBJECTIVES: dict[str, Callable[[PointSummary], float]] = {
    "sharpe": lambda s: s.sharpe,
    "total_return": lambda s: s.total_return,
    "max_drawdown": lambda s: s.max_drawdown,
}


def objective_value(summary: PointSummary, objective: str) -> float:
    try:
        value = OBJECTIVES[objective](summary)
    except KeyError:
        raise WalkForwardError(f"unknown objective {objective!r}; known: {', '.join(sorted(OBJECTIVES))}") from None
    return -math.inf if math.isnan(value) else value


def best_point(summaries: Sequence[PointSummary], objective: str) -> PointSummary:
    """The summary with the highest objective (nan counts as the lowest); the first in grid order on a tie."""
    if not summaries:
        raise WalkForwardError("no grid points")
    best = summaries[0]
    best_value = objective_value(best, objective)
    for summary in summaries[1:]:
        value = objective_value(summary, objective)
        if value > best_value:
            best, best_value = summary, value
    return best


@dataclass(frozen=True, eq=False)
class SplitResult:
    """One split: the point chosen in sample, its in-sample and out-of-sample summaries, and its out-of-sample NAV
    sampled at the end of each period (the window's last step included), from the kernel's cash."""

    split: Split
    chosen: LeadLagPoint
    in_sample: PointSummary
    out_sample: PointSummary
    in_bars: int
    out_bars: int
    nav_ms: IntArray
    nav: FloatArray

    def json(self) -> dict[str, Any]:
        return {
            **self.split.json(),
            "chosen": self.chosen.json(),
            "in_sample": self.in_sample.json(),
            "out_sample": self.out_sample.json(),
            "in_bars": self.in_bars,
            "out_bars": self.out_bars,
            "nav": [[int(t), float(v)] for t, v in zip(self.nav_ms, self.nav, strict=True)],
        }


@dataclass(frozen=True, eq=False)
class Stitched:
    """The out-of-sample NAVs chained (each window scaled to start where the previous ended), and its
    statistics (see :func:`~strategies.core.vectorised.nav_statistics`)."""

    nav_ms: IntArray
    nav: FloatArray
    cash: float
    total_return: float
    sharpe: float
    max_drawdown: float

    def json(self) -> dict[str, Any]:
        return {
            "total_return": number_json(self.total_return),
            "sharpe": number_json(self.sharpe),
            "max_drawdown": number_json(self.max_drawdown),
            "final_nav": number_json(float(self.nav[-1]) if len(self.nav) else self.cash),
            "nav": [[int(t), float(v)] for t, v in zip(self.nav_ms, self.nav, strict=True)],
        }


def walkforward_stitch(
    windows: Sequence[tuple[IntArray, FloatArray]], *, cash: float, periods_per_year: float
) -> Stitched:
    """Chain out-of-sample NAV windows that each start from ``cash``."""
    level = cash
    times: list[IntArray] = []
    navs: list[FloatArray] = []
    for nav_ms, nav in windows:
        if not len(nav):
            continue
        navs.append(nav * (level / cash))
        times.append(nav_ms)
        level = float(navs[-1][-1])
    nav_ms = np.concatenate(times) if times else np.zeros(0, dtype=np.int64)
    nav = np.concatenate(navs) if navs else np.zeros(0)
    total, sharpe, drawdown = nav_statistics(nav, cash=cash, periods_per_year=periods_per_year)
    return Stitched(nav_ms, nav, cash, total, sharpe, drawdown)


KernelFactory = Callable[[AlignedBars], SweepKernel]


def finite_mean(values: Sequence[float]) -> float | None:
    """The mean of the finite values (a split whose point never traded has no Sharpe); None if there are none."""
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def walkforward_split(
    bars: AlignedBars, split: Split, grid: Sequence[LeadLagPoint], *, kernel_for: KernelFactory, objective: str
) -> SplitResult:
    """Choose in ``split``'s in-sample bars the best of ``grid`` by ``objective`` and run it on its out-of-sample
    bars. ``kernel_for`` makes the sweep kernel (costs, cash, sampling) for a window of bars."""
    if objective not in OBJECTIVES:
        raise WalkForwardError(f"unknown objective {objective!r}; known: {', '.join(sorted(OBJECTIVES))}")
    in_bars = bars.window(split.in_start_ms, split.in_end_ms)
    out_bars = bars.window(split.out_start_ms, split.out_end_ms)
    if not len(in_bars) or not len(out_bars):
        raise WalkForwardError(f"split {split.index} has no bars in its in-sample or out-of-sample window")
    chosen = best_point(kernel_for(in_bars).sweep(grid), objective)
    out_kernel = kernel_for(out_bars)
    run = out_kernel.arrays.run(chosen.point, cash=out_kernel.cash)
    samples = out_kernel.samples
    return SplitResult(
        split,
        chosen.point,
        chosen,
        out_kernel.evaluate(chosen.point),
        len(in_bars),
        len(out_bars),
        run.step_ms[samples],
        run.nav[samples],
    )


@dataclass(frozen=True, eq=False)
class WalkForwardResult:
    splits: list[SplitResult]
    objective: str
    out_of_sample: Stitched

    def json(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "splits": [s.json() for s in self.splits],
            "out_of_sample": self.out_of_sample.json(),
            "in_sample_mean": {
                name: finite_mean([getattr(s.in_sample, name) for s in self.splits])
                for name in ("total_return", "sharpe", "max_drawdown")
            },
        }


def walkforward_run(
    bars: AlignedBars,
    splits: Sequence[Split],
    grid: Sequence[LeadLagPoint],
    *,
    kernel_for: KernelFactory,
    objective: str = "sharpe",
    progress: Callable[[int, int], None] | None = None,
) -> WalkForwardResult:
    """Every split (:func:`walkforward_split`) in one process, and the stitched out-of-sample NAV."""
    if not splits:
        raise WalkForwardError("no splits")
    results: list[SplitResult] = []
    for done, split in enumerate(splits, start=1):
        results.append(walkforward_split(bars, split, grid, kernel_for=kernel_for, objective=objective))
        if progress is not None:
            progress(done, len(splits))
    probe = kernel_for(bars.window(splits[0].out_start_ms, splits[0].out_end_ms))
    stitched = walkforward_stitch(
        [(r.nav_ms, r.nav) for r in results], cash=probe.cash, periods_per_year=probe.periods_per_year
    )
    return WalkForwardResult(results, objective, stitched)
