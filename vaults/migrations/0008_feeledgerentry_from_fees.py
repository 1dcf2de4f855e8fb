"""The fee ledger's model, formerly ``fees.FeeLedgerEntry``, now owned by the vaults app: state only, on the same
table (``fees_feeledgerentry``), so no row, constraint or index changes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import hftplatform.fields


class Migration(migrations.Migration):
    dependencies = [
        ("vaults", "0007_position_onchain_source"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("fees", "0003_feeledgerentry_to_vaults"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="FeeLedgerEntry",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "sequence",
                            models.BigIntegerField(help_text="The engine's sequence number within the vault."),
                        ),
                        ("at", models.DateTimeField()),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("management", "Management accrual"),
                                    ("performance", "Performance crystallisation"),
                                ],
                                max_length=12,
                            ),
                        ),
                        ("fee_value", hftplatform.fields.ExactNumericField(help_text="Base units, exact.")),
                        (
                            "fee_shares",
                            hftplatform.fields.ExactNumericField(
                                help_text="Shares minted to or moved to the fee account."
                            ),
                        ),
                        (
                            "price",
                            hftplatform.fields.ExactNumericField(help_text="P (price scale), base units per share."),
                        ),
                        ("seconds", hftplatform.fields.ExactNumericField(blank=True, null=True)),
                        (
                            "factor",
                            hftplatform.fields.ExactNumericField(blank=True, help_text="K(dt) = 0.99 ** dt", null=True),
                        ),
                        ("shares_outstanding", hftplatform.fields.ExactNumericField(blank=True, null=True)),
                        ("depositor_shares", hftplatform.fields.ExactNumericField(blank=True, null=True)),
                        ("fee_per_share", hftplatform.fields.ExactNumericField(blank=True, null=True)),
                        ("fee_index", hftplatform.fields.ExactNumericField(blank=True, null=True)),
                        (
                            "reason",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("withdrawal", "Withdrawal"),
                                    ("year_end", "Year end"),
                                    ("requested", "Requested"),
                                ],
                                max_length=12,
                            ),
                        ),
                        (
                            "shares",
                            hftplatform.fields.ExactNumericField(
                                blank=True, help_text="Shares crystallised.", null=True
                            ),
                        ),
                        ("hwm_before", hftplatform.fields.ExactNumericField(blank=True, null=True)),
                        ("hwm_after", hftplatform.fields.ExactNumericField(blank=True, null=True)),
                        (
                            "depositor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="fee_rows",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "lot",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="fee_rows",
                                to="vaults.lot",
                            ),
                        ),
                        (
                            "vault",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="fee_ledger",
                                to="vaults.vault",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "fee ledger entries",
                        "db_table": "fees_feeledgerentry",
                        "ordering": ["vault_id", "sequence"],
                        "indexes": [models.Index(fields=["vault", "depositor", "at"], name="fee_ledger_depositor_idx")],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("vault", "sequence"), name="fee_ledger_vault_sequence_unique"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("fee_value__gte", 0)), name="fee_ledger_fee_nonnegative"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("fee_shares__gte", 0)), name="fee_ledger_shares_nonnegative"
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
