from django.urls import path

from marketdata.consumers import KlinesConsumer

websocket_urlpatterns = [
    path("ws/klines/<int:instrument_id>/", KlinesConsumer.as_asgi()),
]
