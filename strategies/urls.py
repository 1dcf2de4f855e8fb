from django.urls import path

from strategies import views

urlpatterns = [
    path("", views.runs_page, name="strategy-runs-page"),
    path("runs/<int:run_id>/", views.run_page, name="strategy-run-page"),
    path("compare/", views.compare_page, name="strategy-runs-compare"),
]
