"""The QuantCup fixtures from ``../shared`` (present in CI, absent from a user's clone) and both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderbook.matching._engine import MatchingEngine
from orderbook.matching.reference import ReferenceEngine
from tests.conftest import shared_fixture_dir

ENGINE_CLASSES = {"reference": ReferenceEngine, "compiled": MatchingEngine}


@pytest.fixture
def quantcup_dir() -> Path:
    """The real score feed and its expected outputs."""
    return shared_fixture_dir("orderbook", "quantcup")


@pytest.fixture(params=sorted(ENGINE_CLASSES))
def engine_class(request: pytest.FixtureRequest) -> type[ReferenceEngine] | type[MatchingEngine]:
    return ENGINE_CLASSES[request.param]


@pytest.fixture
def l2_captures_dir() -> Path:
    """cryptofeed captures of real sessions (the L2 cores and the live connectors replay them)."""
    return shared_fixture_dir("orderbook", "l2")
