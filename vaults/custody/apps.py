from django.apps import AppConfig


class CustodyConfig(AppConfig):
    """Safe custody above the vault ledger: its admin, views, API, tasks and commands. Its models are the vaults
    app's (``vaults.models.custody``, app label ``vaults``), so its admin pages stay under /admin/vaults/."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "vaults.custody"
    label = "custody"
    verbose_name = "Custody"
