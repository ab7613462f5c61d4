"""The backtest report in the operator console: the equity and drawdown chart, the trades, and a
"cancel" action. A mixin, so that strategies/admin.py only names it among BacktestAdmin's bases;
the report's fieldsets are added after the page's "Results"."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.db.models.functions import Mod
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from core.admin_console import changelist_link
from core.console_writes import console_context
from strategies.admin_charts import equity_chart_svg
from strategies.models import Backtest, BacktestTrade
from strategies.selectors import backtest_trades_for
from strategies.services.backtests import BacktestStateError, cancel_backtest

TRADES_SHOWN = 100
# The chart marks at most this many trades (every k-th one when there are more).
TRADES_MARKED = 300
TRADE_COLUMNS = (
    ("#", "trade_number"),
    ("side", "side"),
    ("entry", "entry_date"),
    ("entry price", "entry_price"),
    ("exit", "exit_date"),
    ("exit price", "exit_price"),
    ("quantity", "quantity"),
    ("net P&L", "net_pnl"),
    ("P&L %", "pnl_pct"),
    ("exit reason", "exit_signal"),
)
REPORT_FIELDSETS = (
    ("Equity and drawdown", {"fields": ("equity_chart",)}),
    ("Trades", {"fields": ("trades_table",)}),
)


class BacktestReportMixin:
    """For a ModelAdmin of Backtest."""

    actions = ["cancel_backtests"]

    def get_readonly_fields(self, request: HttpRequest, obj: Backtest | None = None) -> tuple:
        return (*super().get_readonly_fields(request, obj), "equity_chart", "trades_table")

    def get_fieldsets(self, request: HttpRequest, obj: Backtest | None = None) -> list:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return fieldsets
        names = [name for name, _options in fieldsets]
        at = names.index("Results") + 1 if "Results" in names else len(fieldsets)
        return [*fieldsets[:at], *REPORT_FIELDSETS, *fieldsets[at:]]

    @admin.display(description="chart")
    def equity_chart(self, backtest: Backtest) -> SafeString | str:
        if not backtest.equity_curve:
            return "No equity curve (the backtest has not completed)."
        trades = backtest_trades_for(backtest)
        total = trades.count()
        every = max(1, -(-total // TRADES_MARKED))
        marked = trades.annotate(position=Mod(F("trade_number") - 1, every)).filter(position=0)
        # equity_chart_svg escapes every text it writes; the rest is numbers it formats.
        return mark_safe(
            equity_chart_svg(
                backtest.equity_curve,
                max_drawdown_pct=backtest.max_drawdown_pct,
                trades=marked.values("entry_date", "exit_date", "side"),
                trades_total=total,
            )
        )

    @admin.display(description="trades")
    def trades_table(self, backtest: Backtest) -> SafeString | str:
        trades = backtest_trades_for(backtest)
        total = trades.count()
        if not total:
            return "No trades."
        header = format_html_join("", "<th>{}</th>", ((label,) for label, _name in TRADE_COLUMNS))
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (
                    format_html_join(
                        "",
                        "<td>{}</td>",
                        ((_cell(getattr(trade, name)),) for _label, name in TRADE_COLUMNS),
                    ),
                )
                for trade in trades[:TRADES_SHOWN]
            ),
        )
        shown = min(total, TRADES_SHOWN)
        everything = changelist_link(BacktestTrade, f"All {total} trades →", backtest=backtest.pk)
        return format_html(
            '<table class="backtest-trades"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>'
            "<p>{} of {} trades shown. {}</p>",
            header,
            rows,
            shown,
            total,
            everything,
        )

    @admin.action(description="Cancel the selected backtests", permissions=["cancel"])
    def cancel_backtests(self, request: HttpRequest, queryset: QuerySet[Backtest]) -> None:
        context = console_context(request)
        cancelled, refused = 0, []
        for backtest in queryset:
            try:
                cancel_backtest(backtest=backtest, actor=request.user, context=context)
                cancelled += 1
            except BacktestStateError:
                refused.append(f"{backtest} ({backtest.status})")
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} backtests.", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                "Only pending or running backtests can be cancelled; left as they were: "
                + ", ".join(refused),
                messages.WARNING,
            )

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("strategies.change_backtest")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)
