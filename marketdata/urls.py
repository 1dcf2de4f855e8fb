from django.urls import path

from marketdata import views

urlpatterns = [
    path("", views.markets, name="markets"),
    path("<str:exchange>/<str:slug>/", views.market_chart, name="market-chart"),
]
