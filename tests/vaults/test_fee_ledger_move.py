"""The fee ledger's model moved from the fees app to the vaults app without touching the database."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from vaults.models import FeeLedgerEntry


def _sql(app: str, migration: str) -> list[str]:
    out = io.StringIO()
    call_command("sqlmigrate", app, migration, stdout=out)
    return [line for line in out.getvalue().splitlines() if line.strip() and not line.startswith("--")]


@pytest.mark.django_db
def test_the_move_runs_no_sql_and_keeps_the_table() -> None:
    # given the two migrations of the move, when Django renders their SQL, then there is none to run
    assert _sql("fees", "0003_feeledgerentry_to_vaults") == ["BEGIN;", "COMMIT;"]
    assert _sql("vaults", "0008_feeledgerentry_from_fees") == ["BEGIN;", "COMMIT;"]
    # and the model reads and writes the table the fees app created
    assert FeeLedgerEntry._meta.app_label == "vaults"
    assert FeeLedgerEntry._meta.db_table == "fees_feeledgerentry"
