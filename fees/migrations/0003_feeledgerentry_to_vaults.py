"""The fee ledger's model moved to the vaults app (``vaults.FeeLedgerEntry``), which writes it: the table
``fees_feeledgerentry`` and its rows stay where they are; only Django's record of which app owns the model changes.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("fees", "0002_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="FeeLedgerEntry")],
            database_operations=[],
        ),
    ]
