from django.urls import path

from hftplatform.consumers import PlatformStatusConsumer
from marketdata.routing import websocket_urlpatterns as marketdata_websocket_urlpatterns
from orderbook.routing import websocket_urlpatterns as orderbook_websocket_urlpatterns
from strategies.routing import websocket_urlpatterns as strategies_websocket_urlpatterns
from vaults.routing import websocket_urlpatterns as vaults_websocket_urlpatterns

websocket_urlpatterns = [
    path("ws/status/", PlatformStatusConsumer.as_asgi()),
    *marketdata_websocket_urlpatterns,
    *orderbook_websocket_urlpatterns,
    *strategies_websocket_urlpatterns,
    *vaults_websocket_urlpatterns,
]
