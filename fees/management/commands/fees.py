"""``manage.py fees simulate FILE.json``: run a fee calculator scenario and print the result JSON.

``FILE.json`` may be ``-`` for standard input. The scenario and result formats are those of
:mod:`fees.simulation` (the same as ``POST /api/v1/fees/simulate/`` and the calculator page).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fees.simulation import ScenarioError, scenario_simulate


class Command(BaseCommand):
    help = "Fee engine tools. simulate FILE.json: print the result of a fee calculator scenario."

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True)
        simulate = subcommands.add_parser("simulate", help="run a scenario (JSON file, or - for stdin)")
        simulate.add_argument("file", help="the scenario JSON file, or - for standard input")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(f"{path} is not JSON: {error}") from None
        try:
            result = scenario_simulate(data)
        except ScenarioError as error:
            raise CommandError(f"invalid scenario: {error.message}") from None
        self.stdout.write(json.dumps(result, indent=2))
