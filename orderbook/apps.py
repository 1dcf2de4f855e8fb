from django.apps import AppConfig


class OrderbookConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "orderbook"
    verbose_name = "Order books"
