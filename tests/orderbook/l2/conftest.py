"""The recorded venue captures from ``../shared`` (present in CI, absent from a user's clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

L2_CAPTURES_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "orderbook" / "l2"


@pytest.fixture
def l2_captures_dir() -> Path:
    """cryptofeed captures of real sessions; missing skips, unless CI says they must be there."""
    if not L2_CAPTURES_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{L2_CAPTURES_DIR} is missing and CI demands the L2 capture replays")
        pytest.skip(f"{L2_CAPTURES_DIR} is missing (the shared fixtures live beside the repository, not in it)")
    return L2_CAPTURES_DIR
