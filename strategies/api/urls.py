from django.urls import path

from strategies.api import runs, strategies

urlpatterns = [
    path("strategies/", strategies.StrategiesApi.as_view(), name="strategies"),
    path("strategy-runs/", runs.StrategyRunsApi.as_view(), name="strategy-runs"),
    path("strategy-runs/<int:run_id>/", runs.StrategyRunDetailApi.as_view(), name="strategy-run"),
    path("strategy-runs/<int:run_id>/trades/", runs.StrategyRunTradesApi.as_view(), name="strategy-run-trades"),
    path("strategy-runs/<int:run_id>/nav/", runs.StrategyRunNavApi.as_view(), name="strategy-run-nav"),
    path("strategy-runs/<int:run_id>/refusals/", runs.StrategyRunRefusalsApi.as_view(), name="strategy-run-refusals"),
]
