from django.urls import path

from marketdata.views import leadlag, markets

urlpatterns = [
    path("", markets.markets, name="markets"),
    # before the chart's <exchange>/<slug>: "leadlag" is no exchange
    path("leadlag/<str:slug>/", leadlag.leadlag_page, name="leadlag-page"),
    path("<str:exchange>/<str:slug>/", markets.market_chart, name="market-chart"),
]
