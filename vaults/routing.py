from django.urls import path

from vaults.consumers import VaultNavConsumer

websocket_urlpatterns = [
    path("ws/vaults/<int:vault_id>/nav/", VaultNavConsumer.as_asgi()),
]
