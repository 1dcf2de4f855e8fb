"""The QuantCup fixtures from ``../shared`` (present in CI, absent from a user's clone) and both engines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orderbook.matching._engine import MatchingEngine
from orderbook.matching.reference import ReferenceEngine

QUANTCUP_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "orderbook" / "quantcup"
ENGINE_CLASSES = {"reference": ReferenceEngine, "compiled": MatchingEngine}


@pytest.fixture
def quantcup_dir() -> Path:
    """The real score feed and its expected outputs; missing skips, unless CI says they must be there."""
    if not QUANTCUP_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{QUANTCUP_DIR} is missing and CI demands the QuantCup conformance tests")
        pytest.skip(f"{QUANTCUP_DIR} is missing (the shared fixtures live beside the repository, not in it)")
    return QUANTCUP_DIR


@pytest.fixture(params=sorted(ENGINE_CLASSES))
def engine_class(request: pytest.FixtureRequest) -> type[ReferenceEngine] | type[MatchingEngine]:
    return ENGINE_CLASSES[request.param]
