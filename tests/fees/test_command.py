"""``manage.py fees simulate FILE.json`` prints the calculator's result JSON; a bad scenario is a CommandError."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fees.simulation import EXAMPLE_SCENARIO
from tests.fees.builders import EXAMPLE_RESULT


def test_simulate_prints_the_result_json(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(EXAMPLE_SCENARIO))
    out = io.StringIO()

    call_command("fees", "simulate", str(path), stdout=out)

    assert json.loads(out.getvalue()) == EXAMPLE_RESULT


def test_simulate_names_the_bad_event(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(EXAMPLE_SCENARIO))
    bad["events"][4]["shares"] = "2000000"
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(bad))
    out = io.StringIO()

    with pytest.raises(CommandError, match=r"invalid scenario: events\[4\] \(withdraw\): withdrawing 2000000 shares"):
        call_command("fees", "simulate", str(path), stdout=out)
    assert out.getvalue() == ""


@pytest.mark.parametrize(("text", "message"), [("{not json", "is not JSON"), (None, "cannot read")])
def test_simulate_unreadable_input(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "scenario.json"
    if text is not None:
        path.write_text(text)

    with pytest.raises(CommandError, match=message):
        call_command("fees", "simulate", str(path), stdout=io.StringIO())
