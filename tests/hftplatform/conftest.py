from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hftplatform import status

FROZEN_NOW = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The status service's clock stopped at FROZEN_NOW."""
    monkeypatch.setattr(status, "_now", lambda: FROZEN_NOW)
    return FROZEN_NOW
