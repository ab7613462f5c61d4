"""The operator console for market data.

Django 5.2's admin refuses models with a composite primary key, which ohlcv, equity_history,
tick_data and the rollups all have. So operators get one page, "Timeseries status", which shows
what `manage.py timeseries_status` shows (with estimated row counts: no COUNT(*) over millions of
candles) and lets them look up the latest candles of a symbol at any timeframe through the same
selector as the API, a portfolio's newest equity snapshots and a symbol's newest ticks (read-only,
through selectors), and the rollup watermarks (which start at -infinity, a value Python's
datetime cannot hold, hence no page of their own). Pending invalidations have a read-only page.
Nothing here is added, edited or deleted: market data changes only through ingestion, rollups and
retention (a ServiceModelAdmin that names no service offers no write).
"""

from datetime import UTC, timedelta
from uuid import UUID

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.template.response import TemplateResponse

from core.console_writes import ServiceModelAdmin
from marketdata.byte_sizes import human_size
from marketdata.models import MaintenanceJobRun, RollupInvalidation
from marketdata.selectors import (
    candles,
    daily_candle_counts,
    equity_snapshots,
    latest_candle_time,
    latest_ticks,
)
from marketdata.services import validate_series
from marketdata.status import timeseries_status
from marketdata.timeframes import Timeframe

CANDLES_SHOWN = 100
COVERAGE_DAYS = 30
SNAPSHOTS_SHOWN = 100
TICKS_SHOWN = 100
# equity_history.portfolio_id points into the other database; seeing a portfolio's equity takes
# the same permission as seeing the portfolio itself.
EQUITY_PERMISSION = "trading.view_portfolio"


@admin.register(MaintenanceJobRun)
class TimeseriesStatusAdmin(ServiceModelAdmin):
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
                    # Whole UTC days, the latest candle's day included: a full day counts 1440.
                    last_day = latest.astimezone(UTC).replace(
                        hour=0, minute=0, second=0, microsecond=0
                    )
                    lookup["coverage"] = daily_candle_counts(
                        symbol=symbol,
                        start=last_day - timedelta(days=COVERAGE_DAYS - 1),
                        end=latest + timedelta(minutes=1),
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": "Timeseries status",
            "opts": self.model._meta,
            "status": status,
            "lookup": lookup,
            "equity": self._equity_lookup(request),
            "can_view_equity": request.user.has_perm(EQUITY_PERMISSION),
            "ticks": self._tick_lookup(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/marketdata/timeseries_status.html", context)

    @staticmethod
    def _equity_lookup(request: HttpRequest) -> dict:
        """The `portfolio` look-up: its newest equity snapshots, or why there are none to show."""
        portfolio = request.GET.get("portfolio", "").strip()
        lookup: dict = {"portfolio": portfolio, "snapshots": None, "errors": []}
        if not portfolio:
            return lookup
        if not request.user.has_perm(EQUITY_PERMISSION):
            lookup["errors"].append("You may not view portfolios, so not their equity either.")
            return lookup
        try:
            portfolio_id = UUID(portfolio)
        except ValueError:
            lookup["errors"].append(f"“{portfolio}” is not a portfolio id (a UUID).")
            return lookup
        lookup["snapshots"] = equity_snapshots(portfolio_id=portfolio_id, limit=SNAPSHOTS_SHOWN)
        return lookup

    @staticmethod
    def _tick_lookup(request: HttpRequest) -> dict:
        """The `tick_symbol` look-up: the symbol's newest ticks, or why there are none to show."""
        symbol = request.GET.get("tick_symbol", "").strip()
        lookup: dict = {"symbol": symbol, "ticks": None, "errors": []}
        if not symbol:
            return lookup
        try:
            validate_series(symbol=symbol)
        except ValidationError as error:
            lookup["errors"] = [m for messages in error.message_dict.values() for m in messages]
            return lookup
        lookup["ticks"] = latest_ticks(symbol=symbol, limit=TICKS_SHOWN)
        return lookup

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
class RollupInvalidationAdmin(ServiceModelAdmin):
    list_display = ("rollup", "symbol", "earliest", "latest", "recorded_at")
    search_fields = ("=symbol",)
    show_full_result_count = False
