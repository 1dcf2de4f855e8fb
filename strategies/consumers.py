"""Read-only websocket of one strategy run's live progress: ``/ws/strategies/runs/<run_id>/``.

Only the run's owner (or an operator) may watch it; anyone else, or no one signed in, is refused with
:data:`CLOSE_UNKNOWN_RUN` whether the run exists or not. On joining, the run's current progress is sent, then every
broadcast (:mod:`strategies.broadcasts`): a backtest's progress (``type`` ``progress``) and a paper run's new NAV
points (``type`` ``nav``).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from hftplatform.consumers import ReadOnlyGroupConsumer
from strategies import selectors
from strategies.broadcasts import strategy_run_group
from strategies.models import StrategyRun

# Application close code for "no such run, or not yours to watch" (4000-4999 are free for applications).
CLOSE_UNKNOWN_RUN = 4404


@database_sync_to_async
def _run_visible(run_id: int, user: Any) -> dict[str, Any] | None:
    if user is None or not user.is_authenticated:
        return None
    try:
        run = selectors.strategy_run_get(run_id=run_id, user=user)
    except StrategyRun.DoesNotExist:
        return None
    return {"run_id": run.pk, "status": run.status, "done": run.progress_done, "total": run.progress_total}


class StrategyRunConsumer(ReadOnlyGroupConsumer):
    """Joins the run's group and forwards its progress."""

    refusal_code = CLOSE_UNKNOWN_RUN

    async def group_for(self) -> str | None:
        run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.snapshot = await _run_visible(run_id, self.scope.get("user"))
        return strategy_run_group(run_id) if self.snapshot is not None else None

    async def joined(self) -> None:
        await self.send_json({"type": "progress", **self.snapshot})

    async def run_progress(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "progress",
                "run_id": event["run_id"],
                "status": event["status"],
                "done": event["done"],
                "total": event["total"],
            }
        )

    async def run_nav(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "nav", "run_id": event["run_id"], "points": event["points"], "final_nav": event["final_nav"]}
        )
