"""Reads of the strategies domain, scoped to the user who asks."""

from django.db.models import QuerySet

from accounts.models import User
from strategies.models import Backtest, BacktestTrade, Strategy


def strategies_for(user: User) -> QuerySet[Strategy]:
    return Strategy.objects.filter(user=user).order_by("-updated_at")


# The large JSON columns of a backtest, read only where one backtest is shown in full.
BACKTEST_SERIES_FIELDS = (
    "equity_curve",
    "monthly_returns",
    "drawdown_periods",
    "strategy_snapshot",
)


def backtests_for(user: User) -> QuerySet[Backtest]:
    return Backtest.objects.filter(user=user).select_related("strategy").order_by("-created_at")


def backtest_list_for(user: User) -> QuerySet[Backtest]:
    """backtests_for without the series columns (up to hundreds of kB each), for lists."""
    return backtests_for(user).defer(*BACKTEST_SERIES_FIELDS)


def backtest_trades_for(backtest: Backtest) -> QuerySet[BacktestTrade]:
    return BacktestTrade.objects.filter(backtest=backtest).order_by("trade_number")
