"""Issue 13: a wallet remembers which wallet vouched for its link; API tokens get scopes and an expiry.

Tokens made before this migration keep working read-only for 90 days from their creation: they could do anything
before, and a token that may move funds must now be created with that scope on purpose.
"""

from datetime import timedelta

import django.contrib.postgres.fields
import django.utils.timezone
from django.db import migrations, models
from django.db.models import F

EXISTING_TOKEN_LIFETIME = timedelta(days=90)


def existing_tokens_read_only(apps, schema_editor):  # type: ignore[no-untyped-def]
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.update(scopes=["read"], expires_at=F("created_at") + EXISTING_TOKEN_LIFETIME)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_api_token_verbose_name")]

    operations = [
        migrations.AddField(
            model_name="wallet",
            name="vouched_by",
            field=models.CharField(
                blank=True,
                help_text="The wallet (linked ≥ 48 h before) that co-signed this link, so it authorises withdrawals at once.",
                max_length=42,
            ),
        ),
        migrations.AlterField(
            model_name="wallet",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, help_text="When it was linked."),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="scopes",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=16), default=list, help_text="read, trade, custody.", size=None
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(null=True, help_text="The token is refused from this instant on."),
        ),
        migrations.RunPython(existing_tokens_read_only, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(help_text="The token is refused from this instant on."),
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(
                condition=models.Q(("scopes__contained_by", ["read", "trade", "custody"])),
                name="accounts_apirequired_scopes_known",
            ),
        ),
    ]
