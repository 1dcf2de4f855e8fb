"""The recorded venue captures from ``../shared`` (present in CI, absent from a user's clone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_fixture_dir


@pytest.fixture
def l2_captures_dir() -> Path:
    """cryptofeed captures of real sessions: the same folder tests/orderbook/l2 replays."""
    return shared_fixture_dir("orderbook", "l2")
