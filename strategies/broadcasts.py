"""Live run progress: one Channels group per strategy run, and the broadcast the run services call.

A payload: ``run_id``, ``status`` (queued, running, done, failed), and ``done``/``total`` steps (the strategy's
steps, then the benchmark's). A broadcast never fails the run that sends it: a channel layer outage is logged.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

# Channels group names allow ASCII letters, digits, hyphens, underscores and periods, under 100 characters.
_GROUP_PREFIX = "strategies.run."
PROGRESS_EVENT = "run.progress"  # handled by StrategyRunConsumer.run_progress


def strategy_run_group(run_id: int) -> str:
    """The Channels group of one run's live progress."""
    return f"{_GROUP_PREFIX}{int(run_id)}"


def strategy_run_broadcast(*, run_id: int, status: str, done: int, total: int) -> None:
    """Push a run's progress to every page watching it (from a worker or a command, not from an event loop)."""
    layer = get_channel_layer()
    if layer is None:
        return
    event = {"type": PROGRESS_EVENT, "run_id": int(run_id), "status": str(status), "done": done, "total": total}
    try:
        async_to_sync(layer.group_send)(strategy_run_group(run_id), event)
    except Exception:  # progress is a courtesy: the run goes on
        logger.warning("progress of strategy run %s was not broadcast", run_id, exc_info=True)
