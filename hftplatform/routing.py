from django.urls import path

from hftplatform.consumers import PlatformStatusConsumer

websocket_urlpatterns = [
    path("ws/status/", PlatformStatusConsumer.as_asgi()),
]
