from django.urls import path

from orderbook.api import OrderBookApi

urlpatterns = [
    # <path:...>: a percent-encoded slash (BTC%2FUSDT) arrives decoded as BTC/USDT.
    path("orderbook/<path:symbol>/", OrderBookApi.as_view(), name="orderbook"),
]
