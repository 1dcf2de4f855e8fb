from django.urls import path

from fees import views

urlpatterns = [
    path("calculator/", views.fee_calculator, name="fee_calculator"),
]
