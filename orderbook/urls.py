from django.urls import path

from orderbook import views

urlpatterns = [
    path("<str:market>/", views.depth_chart, name="orderbook-depth"),
]
