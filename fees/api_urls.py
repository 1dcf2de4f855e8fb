from django.urls import path

from fees import api

urlpatterns = [
    path("fees/simulate/", api.FeeSimulateApi.as_view(), name="fees-simulate"),
]
