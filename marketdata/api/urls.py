from django.urls import path

from marketdata.api import klines, leadlag, markets

urlpatterns = [
    path("klines/", klines.KlinesApi.as_view(), name="klines"),
    path("markets/", markets.MarketsApi.as_view(), name="markets"),
    path("leadlag/", leadlag.LeadLagApi.as_view(), name="leadlag"),
]
