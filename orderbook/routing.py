from django.urls import path

from orderbook.consumers import OrderBookConsumer

websocket_urlpatterns = [
    path("ws/orderbook/<str:market>/", OrderBookConsumer.as_asgi()),
]
