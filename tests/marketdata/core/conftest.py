from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_fixture_dir


@pytest.fixture
def klines_fixtures() -> Path:
    """The real recorded kline data in ``../shared/fixtures/klines`` (skips in a user's clone, fails in CI)."""
    return shared_fixture_dir("klines")


@pytest.fixture
def error_payloads(klines_fixtures: Path) -> dict[str, Any]:
    """Error bodies quoted from the venues' docs and issues (see SOURCES.md), by name."""
    return json.loads((klines_fixtures / "snippets" / "error_payloads.json").read_text())
