from django.urls import path

from strategies.consumers import StrategyRunConsumer

websocket_urlpatterns = [
    path("ws/strategies/runs/<int:run_id>/", StrategyRunConsumer.as_asgi()),
]
