"""Live strategy runs: one Channels group per run, and the broadcast of the NAV points a paper step added.

A payload: ``run_id``, ``points`` oldest first, each ``{"time": ISO 8601 UTC, "time_ms", "nav": exact decimal
string}``, and ``final_nav`` (the run's NAV after the step, which includes a fill booked past its last point). A
broadcast never fails the step that sends it: a channel layer outage is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from hftplatform.core.decimal_text import decimal_text_keep_scale
from hftplatform.core.utc import utc_from_ms, utc_iso

logger = logging.getLogger(__name__)

# Channels group names allow ASCII letters, digits, hyphens, underscores and periods, under 100 characters.
_GROUP_PREFIX = "strategies.run."
NAV_EVENT = "run.nav"  # for a consumer's run_nav


def strategy_run_group(run_id: int) -> str:
    """The Channels group of one run's live progress."""
    return f"{_GROUP_PREFIX}{int(run_id)}"


def strategy_run_nav_broadcast(
    *, run_id: int, points: Sequence[tuple[int, Decimal]], final_nav: Decimal | None
) -> None:
    """Push the NAV points ``(time_ms, nav)`` a step of run ``run_id`` added to every page watching the run (from a
    worker or a command, not from an event loop)."""
    layer = get_channel_layer()
    if layer is None or not points:
        return
    event = {
        "type": NAV_EVENT,
        "run_id": int(run_id),
        "points": [
            {"time": utc_iso(utc_from_ms(time_ms)), "time_ms": time_ms, "nav": decimal_text_keep_scale(nav)}
            for time_ms, nav in points
        ],
        "final_nav": None if final_nav is None else decimal_text_keep_scale(final_nav),
    }
    try:
        async_to_sync(layer.group_send)(strategy_run_group(run_id), event)
    except Exception:  # the NAV is stored; the push is a courtesy
        logger.warning("NAV points of strategy run %s were not broadcast", run_id, exc_info=True)


PROGRESS_EVENT = "run.progress"  # for a consumer's run_progress


def strategy_run_broadcast(*, run_id: int, status: str, done: int, total: int) -> None:
    """Push a run's progress (``status``: queued, running, done, failed; ``done``/``total`` steps: a backtest's
    strategy steps, then its benchmark's) to every page watching the run (from a worker or a command, not from an
    event loop)."""
    layer = get_channel_layer()
    if layer is None:
        return
    event = {"type": PROGRESS_EVENT, "run_id": int(run_id), "status": str(status), "done": done, "total": total}
    try:
        async_to_sync(layer.group_send)(strategy_run_group(run_id), event)
    except Exception:  # progress is a courtesy: the run goes on
        logger.warning("progress of strategy run %s was not broadcast", run_id, exc_info=True)
