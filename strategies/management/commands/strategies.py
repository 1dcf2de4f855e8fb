"""``manage.py strategies SUBCOMMAND ...``: the strategy engine from the command line.

- ``strategies backtest --strategy … --exchanges … --symbol … --interval … --start … --end … [--json]``: a
  backtest over the stored candles (see :mod:`strategies.management.backtest_command`).

Each subcommand is a pair of methods, ``arguments_<name>(parser)`` and ``handle_<name>(**options)``, listed in
:attr:`Command.subcommands`: adding one touches nothing of the others.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from strategies.management.backtest_command import BacktestSubcommand


class Command(BacktestSubcommand):
    help = "The strategy engine: backtests."

    # name → help; each has arguments_<name>(parser) and handle_<name>(**options)
    subcommands: dict[str, str] = {
        "backtest": "backtest a strategy over the stored candles",
    }

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True)
        for name, help_text in self.subcommands.items():
            getattr(self, f"arguments_{name}")(commands.add_parser(name, help=help_text, description=help_text))

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        getattr(self, f"handle_{subcommand}")(**options)
