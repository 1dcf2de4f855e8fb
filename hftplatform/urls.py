from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from hftplatform import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("health/", views.health, name="health"),
    path("markets/", include("marketdata.views.urls")),
    path("fees/", include("fees.urls")),
    path("orderbook/", include("orderbook.urls")),
    path("strategies/", include("strategies.urls")),
    path("vaults/", include("vaults.custody.urls")),  # before vaults.urls: its <slug>/ would take proposals/
    path("vaults/", include("vaults.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("hftplatform.api.urls")),
]
