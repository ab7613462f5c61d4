"""The portfolio page's equity and drawdown chart (the backtest report's SVG chart, fed from
equity_history)."""

from datetime import timedelta

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from strategies.admin_charts import equity_chart_svg
from trading.equity import equity_series
from trading.models import Portfolio

CHART_WINDOW = timedelta(days=90)


class PortfolioEquityChartMixin:
    """For the Portfolio ModelAdmin: an "Equity and drawdown" section on a saved portfolio
    (the admin lists `equity_chart` among its read-only fields)."""

    def get_fieldsets(self, request: HttpRequest, obj: Portfolio | None = None) -> list:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        return [*fieldsets, ("Equity and drawdown", {"fields": ("equity_chart",)})]

    @admin.display(description="chart")
    def equity_chart(self, portfolio: Portfolio) -> SafeString | str:
        end = timezone.now()
        points = equity_series(
            portfolio=portfolio, start=end - CHART_WINDOW, end=end, interval="1h"
        )
        if not points:
            return "No equity history yet (it is recorded every five minutes)."
        curve = [
            {"time": p["time"].isoformat(), "equity": float(p["equity_value"])} for p in points
        ]
        drawdown = [-float(p["drawdown_pct"] or 0) for p in points]
        # equity_chart_svg escapes every text it writes; the rest is numbers it formats.
        return mark_safe(equity_chart_svg(curve, drawdown))
