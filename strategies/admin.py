"""Operator console for strategies, backtests and backtest trades.

Every write goes through the services the API uses (core.console_writes): a strategy is created,
edited and deleted by strategies.services.strategies, so the console obeys the same rules and
writes the same audit row. `version` is the database trigger's (it rises when the rules change),
so it is read-only here, as is the owner of an existing strategy. Backtests and their trades are
the engine's output: operators inspect them, cancel or delete a backtest through its services,
and never edit them (runs start through `strategies.services.start_backtest`).
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from compliance.audit import AuditContext
from core.admin_console import change_link, changelist_link
from core.console_writes import ServiceModelAdmin, console_context
from core.errors import StateConflict
from core.json_depth import MAX_JSON_DEPTH, nesting_exceeds
from strategies.admin_report import BacktestReportMixin
from strategies.models import BACKTEST_RESULT_FIELDS, Backtest, BacktestTrade, Strategy
from strategies.selectors import BACKTEST_SERIES_FIELDS
from strategies.services.backtests import delete_backtest
from strategies.services.strategies import (
    EDITABLE_FIELDS,
    activate_strategy,
    archive_strategy,
    create_strategy,
    delete_strategy,
    pause_strategy,
    update_strategy,
)

# Characters of a strategy's name in the backtest list (the full name shows on hover).
STRATEGY_NAME_WIDTH = 24


class RulesFormField(forms.JSONField):
    """A rule tree typed as JSON. A document nested deeper than MAX_JSON_DEPTH is a form error,
    and is shown again as typed, before json.loads, json.dumps or the model's checks recurse
    into it (a RecursionError would be a 500)."""

    too_deep_message = f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels."

    def to_python(self, value: Any) -> Any:
        try:
            parsed = super().to_python(value)
        except RecursionError as error:
            raise ValidationError(self.too_deep_message, code="nested") from error
        if nesting_exceeds(parsed):
            raise ValidationError(self.too_deep_message, code="nested")
        return parsed

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            value = super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)
        return InvalidJSONInput(data) if nesting_exceeds(value) else value


@admin.register(Strategy)
class StrategyAdmin(ServiceModelAdmin):
    formfield_overrides = {models.JSONField: {"form_class": RulesFormField}}
    list_display = (
        "name",
        "user",
        "asset_symbol",
        "timeframe",
        "status",
        "trading_mode",
        "version",
        "updated_at",
    )
    list_filter = ("status", "trading_mode", "timeframe")
    search_fields = ("name", "asset_symbol", "user__email")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    date_hierarchy = "created_at"
    # Status moves only through the lifecycle services (the actions below), which stamp
    # activated_at, default the trading mode and write the audit row.
    actions = ("activate_selected", "pause_selected", "archive_selected")
    readonly_fields = (
        "status",
        "version",
        "created_at",
        "updated_at",
        "activated_at",
        "last_signal_at",
        "backtests_link",
    )
    fieldsets = (
        (None, {"fields": ("user", "name", "description", "version")}),
        ("Market", {"fields": ("asset_symbol", "timeframe")}),
        ("Rules", {"fields": ("entry_rules", "exit_rules")}),
        (
            "Risk",
            {
                "fields": (
                    "stop_loss_pct",
                    "take_profit_pct",
                    "max_position_size_pct",
                    "max_drawdown_pct",
                    "trailing_stop_pct",
                )
            },
        ),
        ("State", {"fields": ("status", "trading_mode", "activated_at", "last_signal_at")}),
        ("Activity", {"fields": ("backtests_link", "created_at", "updated_at")}),
    )

    def get_readonly_fields(
        self, request: HttpRequest, obj: Strategy | None = None
    ) -> tuple[str, ...]:
        """A strategy stays with its owner (update_strategy refuses any other owner)."""
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if obj is None else (*readonly, "user")

    def create_through_service(
        self, request: HttpRequest, obj: Strategy, context: AuditContext
    ) -> Strategy:
        return create_strategy(
            user=obj.user,
            actor=request.user,
            context=context,
            **{name: getattr(obj, name) for name in EDITABLE_FIELDS},
        )

    def update_through_service(
        self,
        request: HttpRequest,
        obj: Strategy,
        changes: dict[str, Any],
        context: AuditContext,
    ) -> Strategy:
        return update_strategy(strategy=obj, actor=request.user, changes=changes, context=context)

    def delete_through_service(
        self, request: HttpRequest, obj: Strategy, context: AuditContext
    ) -> None:
        delete_strategy(strategy=obj, actor=request.user, context=context)

    def _move(
        self,
        request: HttpRequest,
        queryset: QuerySet[Strategy],
        service: Callable[..., Strategy],
        done: str,
    ) -> None:
        context = console_context(request)
        moved = 0
        for strategy in queryset:
            try:
                service(strategy=strategy, actor=request.user, context=context)
                moved += 1
            except StateConflict as error:
                self.message_user(request, f"{strategy.name}: {error}", level=messages.WARNING)
        self.message_user(request, f"{moved} strategies {done}.")

    @admin.action(description="Activate the selected strategies", permissions=["change"])
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._move(request, queryset, activate_strategy, "activated")

    @admin.action(description="Pause the selected strategies", permissions=["change"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._move(request, queryset, pause_strategy, "paused")

    @admin.action(description="Archive the selected strategies", permissions=["change"])
    def archive_selected(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._move(request, queryset, archive_strategy, "archived")

    @admin.display(description="backtests")
    def backtests_link(self, strategy: Strategy) -> SafeString | str:
        if strategy.pk is None:
            return "-"
        count = strategy.backtests.count()
        return changelist_link(Backtest, f"{count} backtests", strategy=strategy.pk)


@admin.register(Backtest)
class BacktestAdmin(BacktestReportMixin, ServiceModelAdmin):
    """The report (chart, trades) and the cancel action come from BacktestReportMixin. Viewed,
    cancelled and deleted (a finished one), never added or edited here."""

    # Seven short columns, so that the key metrics fit a 1280-pixel screen beside the console's
    # navigation and filter (checked in a browser): the period and status are compact, the
    # strategy's name is cut to a few words (in full on hover), the user is a filter and a search
    # rather than a column, and the creation date is the date hierarchy above the table.
    list_display = (
        "period",
        "strategy_name",
        "run_status",
        "return_pct",
        "sharpe",
        "max_drawdown",
        "trades",
    )
    list_filter = ("status",)
    search_fields = ("strategy__name", "user__email", "strategy__asset_symbol")
    list_select_related = ("strategy", "user")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Backtest]:
        """The list page skips the series columns, which only the change page shows."""
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "strategies_backtest_changelist":
            return queryset.defer(*BACKTEST_SERIES_FIELDS)
        return queryset

    date_hierarchy = "created_at"
    readonly_fields = (
        "strategy_link",
        "user_link",
        "trades_link",
    )
    fieldsets = (
        (None, {"fields": ("strategy_link", "user_link", "status", "progress_pct")}),
        (
            "Configuration",
            {
                "fields": (
                    "start_date",
                    "end_date",
                    "initial_capital",
                    "commission_pct",
                    "slippage_pct",
                    "strategy_snapshot",
                )
            },
        ),
        (
            "Results",
            {
                "fields": (*BACKTEST_RESULT_FIELDS, "trades_link"),
            },
        ),
        (
            "Series",
            {
                "classes": ("collapse",),
                "fields": ("equity_curve", "monthly_returns", "drawdown_periods"),
            },
        ),
        ("Run", {"fields": ("error_message", "created_at", "started_at", "completed_at")}),
    )

    def delete_through_service(
        self, request: HttpRequest, obj: Backtest, context: AuditContext
    ) -> None:
        delete_backtest(backtest=obj, actor=request.user, context=context)

    @admin.display(description="strategy")
    def strategy_link(self, backtest: Backtest) -> SafeString | str:
        return change_link(backtest.strategy)

    @admin.display(description="period", ordering="start_date")
    def period(self, backtest: Backtest) -> str:
        return f"{backtest.start_date:%Y-%m-%d} → {backtest.end_date:%Y-%m-%d}"

    @admin.display(description="strategy", ordering="strategy__name")
    def strategy_name(self, backtest: Backtest) -> SafeString:
        name = backtest.strategy.name
        short = name if len(name) <= STRATEGY_NAME_WIDTH else name[: STRATEGY_NAME_WIDTH - 1] + "…"
        return format_html('<span title="{}">{}</span>', str(backtest.strategy), short)

    @admin.display(description="status", ordering="status")
    def run_status(self, backtest: Backtest) -> str:
        if backtest.status == Backtest.Status.RUNNING:
            return f"running {backtest.progress_pct}%"
        return str(backtest.status)

    @admin.display(description="return %", ordering="total_return_pct")
    def return_pct(self, backtest: Backtest) -> Any:
        return _metric(backtest.total_return_pct, "{:.2f}")

    @admin.display(description="Sharpe", ordering="sharpe_ratio")
    def sharpe(self, backtest: Backtest) -> Any:
        return _metric(backtest.sharpe_ratio, "{:.2f}")

    @admin.display(description="max DD %", ordering="max_drawdown_pct")
    def max_drawdown(self, backtest: Backtest) -> Any:
        return _metric(backtest.max_drawdown_pct, "{:.2f}")

    @admin.display(description="trades", ordering="total_trades")
    def trades(self, backtest: Backtest) -> Any:
        return _metric(backtest.total_trades, "{}")

    @admin.display(description="user")
    def user_link(self, backtest: Backtest) -> SafeString | str:
        return change_link(backtest.user)

    @admin.display(description="trades")
    def trades_link(self, backtest: Backtest) -> SafeString:
        count = backtest.trades.count()
        return changelist_link(BacktestTrade, f"{count} trades", backtest=backtest.pk)


def _metric(value: Any, template: str) -> str:
    return "-" if value is None else template.format(value)


@admin.register(BacktestTrade)
class BacktestTradeAdmin(ServiceModelAdmin):
    """View only: a backtest's trades go with it, never one by one."""

    list_display = (
        "trade_number",
        "backtest",
        "symbol",
        "side",
        "quantity",
        "entry_date",
        "entry_price",
        "exit_date",
        "exit_price",
        "net_pnl",
        "pnl_pct",
        "is_open",
    )
    list_filter = ("side", "is_open")
    search_fields = ("symbol", "backtest__strategy__name", "backtest__user__email")
    list_select_related = ("backtest",)
    date_hierarchy = "entry_date"
    show_full_result_count = False
    readonly_fields = ("backtest_link",)
    exclude = ("backtest",)

    @admin.display(description="backtest")
    def backtest_link(self, trade: BacktestTrade) -> SafeString | str:
        return change_link(trade.backtest)


# The optimisations' pages live in a module of their own; importing it registers them.
import strategies.admin_optimisation  # noqa: E402, F401
