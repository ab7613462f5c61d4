"""The operator console for market data.

Django 5.2's admin refuses models with a composite primary key, which ohlcv, equity_history,
tick_data and the rollups all have. So operators get one page, "Timeseries status", which shows
what `manage.py timeseries_status` shows (with estimated row counts: no COUNT(*) over millions of
candles) and lets them look up the latest candles of a symbol at any timeframe through the same
selector as the API, and the rollup watermarks (which start at -infinity, a value Python's
datetime cannot hold, hence no page of their own). Pending invalidations have a read-only page.
"""

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.template.response import TemplateResponse

from apextrade.admin_console import ReadOnlyModelAdmin
from marketdata.management.commands.timeseries_status import human_size
from marketdata.models import MaintenanceJobRun, RollupInvalidation
from marketdata.selectors import (
    candles,
    daily_candle_counts,
    latest_candle_time,
    timeseries_status,
)
from marketdata.services import validate_series
from marketdata.timeframes import Timeframe

CANDLES_SHOWN = 100
COVERAGE_DAYS = 30


@admin.register(MaintenanceJobRun)
class TimeseriesStatusAdmin(ReadOnlyModelAdmin):
    """The list page of maintenance job runs is the timeseries status page."""

    list_display = ("job", "last_run_at", "last_status", "last_duration_ms")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        status = timeseries_status(exact_counts=False)
        for table in status["tables"]:
            table["size"] = human_size(table["size_bytes"])
        symbol = request.GET.get("symbol", "").strip()
        timeframe = request.GET.get("timeframe", "1h").strip() or "1h"
        lookup: dict = {"symbol": symbol, "timeframe": timeframe, "candles": None}
        if symbol:
            try:
                validate_series(symbol=symbol, timeframe=timeframe)
            except ValidationError as error:
                lookup["errors"] = [m for messages in error.message_dict.values() for m in messages]
            else:
                lookup["candles"] = self._latest_candles(symbol, timeframe)
                latest = latest_candle_time(symbol=symbol)
                if latest is not None:
                    lookup["coverage"] = daily_candle_counts(
                        symbol=symbol, start=latest - timedelta(days=COVERAGE_DAYS), end=latest
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": "Timeseries status",
            "opts": self.model._meta,
            "status": status,
            "lookup": lookup,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/marketdata/timeseries_status.html", context)

    @staticmethod
    def _latest_candles(symbol: str, timeframe: str) -> list:
        """The newest CANDLES_SHOWN candles, newest first, ending at the last stored one."""
        latest = latest_candle_time(symbol=symbol)
        if latest is None:
            return []
        frame = Timeframe.parse(timeframe)
        end = frame.after(frame.floor(latest))
        start = frame.after(end, -CANDLES_SHOWN)
        page = candles(
            symbol=symbol, timeframe=timeframe, start=start, end=end, limit=CANDLES_SHOWN
        )
        return list(reversed(page.candles))


@admin.register(RollupInvalidation)
class RollupInvalidationAdmin(ReadOnlyModelAdmin):
    list_display = ("rollup", "symbol", "earliest", "latest", "recorded_at")
    search_fields = ("=symbol",)
    show_full_result_count = False
