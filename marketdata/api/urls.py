from django.urls import path

from marketdata.api import views

urlpatterns = [
    path("klines/", views.KlinesApi.as_view(), name="klines"),
    path("markets/", views.MarketsApi.as_view(), name="markets"),
]
