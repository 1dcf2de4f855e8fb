from django.urls import include, path, re_path

from hftplatform.api import views
from hftplatform.api.errors import api_not_found

app_name = "api"

urlpatterns = [
    path("status/", views.PlatformStatusApi.as_view(), name="platform-status"),
    path("", include("accounts.api_urls")),
    path("", include("marketdata.api.urls")),
    path("", include("fees.api_urls")),
    path("", include("orderbook.api_urls")),
    path("", include("vaults.api_urls")),
    path("", include("vaults.custody.api_urls")),
    path("", include("strategies.api.urls")),
    re_path(r"^.*$", api_not_found),
]
