from django.urls import path

from marketdata import leadlag_views, views

urlpatterns = [
    path("", views.markets, name="markets"),
    # before the chart's <exchange>/<slug>: "leadlag" is no exchange
    path("leadlag/<str:slug>/", leadlag_views.leadlag_page, name="leadlag-page"),
    path("<str:exchange>/<str:slug>/", views.market_chart, name="market-chart"),
]
