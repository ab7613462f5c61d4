"""/api/v1/strategies, /api/v1/strategies/rules-schema, /api/v1/backtests,
/api/v1/optimisations and their actions (no trailing slashes, as the API spec writes them)."""

from rest_framework.routers import SimpleRouter

from strategies.api.optimisation_views import OptimisationViewSet
from strategies.api.views import BacktestViewSet, StrategyViewSet

router = SimpleRouter(trailing_slash=False)
router.register("strategies", StrategyViewSet, basename="strategy")
router.register("backtests", BacktestViewSet, basename="backtest")
router.register("optimisations", OptimisationViewSet, basename="optimisation")

urlpatterns = router.urls
