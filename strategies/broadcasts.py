"""Live strategy runs: one Channels group per run, and the broadcast of its new NAV points.

A payload carries the points a step added, oldest first, each as ``{"time": ISO 8601 UTC, "time_ms", "nav": exact
decimal string}``, and the run's latest NAV (``final_nav``, after any fill the step booked past its last point).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from hftplatform.core.decimal_text import decimal_text_keep_scale
from hftplatform.core.utc import utc_from_ms, utc_iso

_GROUP_PREFIX = "strategies.run."
NAV_EVENT = "strategy_run.nav"  # a consumer handles it as strategy_run_nav


def strategy_run_group(run_id: int) -> str:
    """The Channels group of one run's live progress."""
    return f"{_GROUP_PREFIX}{int(run_id)}"


def strategy_run_nav_broadcast(
    *, run_id: int, points: Sequence[tuple[int, Decimal]], final_nav: Decimal | None
) -> None:
    """Push the NAV points ``(time_ms, nav)`` a step of run ``run_id`` added to every page watching the run."""
    if not points:
        return
    channel_layer = get_channel_layer()
    assert channel_layer is not None, "CHANNEL_LAYERS is not configured"
    event = {
        "type": NAV_EVENT,
        "run_id": int(run_id),
        "points": [
            {"time": utc_iso(utc_from_ms(time_ms)), "time_ms": time_ms, "nav": decimal_text_keep_scale(nav)}
            for time_ms, nav in points
        ],
        "final_nav": None if final_nav is None else decimal_text_keep_scale(final_nav),
    }
    async_to_sync(channel_layer.group_send)(strategy_run_group(run_id), event)
