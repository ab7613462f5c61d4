"""Operator console for portfolios, positions and trades.

Portfolios are created, edited and deleted through trading.services, as the API's are
(core.console_writes): the same rules, the same audit row. Balances are never typed in: a new
portfolio is funded with its initial balance, and money moves only through fills. Positions and
trades are the books: services write them (orders, fills), the console only shows them, and
trades are never deleted here (kept ten years, MiFID II). Nor is a portfolio that has trades,
since they would go with it; deactivate it instead.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from compliance.audit import AuditContext
from core.admin_console import change_link, changelist_link
from core.console_writes import ServiceModelAdmin
from trading import (
    admin_reconciliation,  # noqa: F401  (registers the discrepancies' pages)
    services,
)
from trading.admin_equity import PortfolioEquityChartMixin
from trading.models import Portfolio, Position, Trade

POSITION_COLUMNS = (
    "symbol",
    "quantity",
    "average_entry_price",
    "current_price",
    "market_value",
    "unrealized_pnl",
    "realized_pnl",
    "is_open",
    "opened_at",
    "closed_at",
)


class PositionInline(admin.TabularInline):
    model = Position
    fields = POSITION_COLUMNS
    readonly_fields = POSITION_COLUMNS
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-is_open", "-opened_at")

    def has_add_permission(self, request: HttpRequest, obj: Portfolio | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Portfolio | None = None) -> bool:
        return False


@admin.register(Portfolio)
class PortfolioAdmin(PortfolioEquityChartMixin, ServiceModelAdmin):
    list_display = (
        "name",
        "user",
        "is_paper",
        "broker",
        "base_currency",
        "cash_balance",
        "total_value",
        "unrealized_pnl",
        "realized_pnl",
        "is_active",
        "created_at",
    )
    list_filter = ("is_paper", "is_active", "broker", "base_currency")
    search_fields = ("name", "user__email", "broker_account_id")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    date_hierarchy = "created_at"
    inlines = (PositionInline,)
    fieldsets = (
        (None, {"fields": ("user", "name", "description", "is_active")}),
        ("Account", {"fields": ("is_paper", "broker", "broker_account_id", "base_currency")}),
        (
            "Balances",
            {
                "fields": (
                    "initial_balance",
                    "cash_balance",
                    "reserved_cash",
                    "positions_value",
                    "total_value",
                    "unrealized_pnl",
                    "realized_pnl",
                )
            },
        ),
        ("Activity", {"fields": ("trades_link", "created_at", "updated_at")}),
    )
    # The books change through fills; a new portfolio is funded with its initial balance.
    balance_fields = (
        "cash_balance",
        "positions_value",
        "total_value",
        "unrealized_pnl",
        "realized_pnl",
    )
    # Fixed once the portfolio exists (trading.services.EDITABLE_PORTFOLIO_FIELDS may change).
    ledger_fields = ("user", "is_paper", "broker", "base_currency", "initial_balance")

    def get_readonly_fields(
        self, request: HttpRequest, obj: Portfolio | None = None
    ) -> tuple[str, ...]:
        # reserved_cash is the open orders' (the database keeps it): never typed in.
        always = (
            "trades_link",
            "reserved_cash",
            "created_at",
            "updated_at",
            "equity_chart",
            *self.balance_fields,
        )
        if obj is None:
            return (*always, "is_active")
        return always + self.ledger_fields

    def create_through_service(
        self, request: HttpRequest, obj: Portfolio, context: AuditContext
    ) -> Portfolio:
        return services.create_portfolio(
            user=obj.user,
            name=obj.name,
            initial_balance=obj.initial_balance,
            base_currency=obj.base_currency,
            is_paper=obj.is_paper,
            broker=obj.broker,
            broker_account_id=obj.broker_account_id,
            description=obj.description,
            actor=request.user,
            context=context,
        )

    def update_through_service(
        self,
        request: HttpRequest,
        obj: Portfolio,
        changes: dict[str, Any],
        context: AuditContext,
    ) -> Portfolio:
        return services.update_portfolio(
            portfolio=obj, actor=request.user, changes=changes, context=context
        )

    def delete_through_service(
        self, request: HttpRequest, obj: Portfolio, context: AuditContext
    ) -> None:
        services.delete_portfolio(portfolio=obj, actor=request.user, context=context)

    def has_delete_permission(self, request: HttpRequest, obj: Portfolio | None = None) -> bool:
        """Never for a portfolio with trades: deleting it would delete its trade history."""
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or not obj.trades.exists())

    @admin.display(description="trades")
    def trades_link(self, portfolio: Portfolio) -> SafeString | str:
        if portfolio.pk is None:
            return "-"
        count = portfolio.trades.count()
        return changelist_link(Trade, f"{count} trades", portfolio=portfolio.pk)


@admin.register(Position)
class PositionAdmin(ServiceModelAdmin):
    """View only: positions move with fills."""

    list_display = (
        "symbol",
        "portfolio",
        "quantity",
        "average_entry_price",
        "current_price",
        "unrealized_pnl",
        "unrealized_pnl_pct",
        "is_open",
        "opened_at",
        "closed_at",
    )
    list_filter = ("is_open",)
    search_fields = ("symbol", "portfolio__name", "portfolio__user__email")
    list_select_related = ("portfolio",)
    date_hierarchy = "opened_at"
    readonly_fields = ("portfolio_link", "trades_link")
    exclude = ("portfolio",)

    @admin.display(description="portfolio")
    def portfolio_link(self, position: Position) -> SafeString | str:
        return change_link(position.portfolio)

    @admin.display(description="trades")
    def trades_link(self, position: Position) -> SafeString:
        return changelist_link(Trade, f"{position.trades.count()} trades", position=position.pk)


@admin.register(Trade)
class TradeAdmin(ServiceModelAdmin):
    """View only: orders are placed, cancelled and filled by trading.orders and trading.fills."""

    list_display = (
        "created_at",
        "user",
        "portfolio",
        "symbol",
        "side",
        "order_type",
        "quantity",
        "filled_quantity",
        "filled_price",
        "status",
        "is_paper",
    )
    list_filter = ("status", "side", "order_type", "is_paper")
    search_fields = ("symbol", "user__email", "broker_order_id", "portfolio__name")
    list_select_related = ("user", "portfolio")
    show_full_result_count = False
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("user_link", "portfolio_link", "strategy_link", "position_link")}),
        (
            "Order",
            {
                "fields": (
                    "symbol",
                    "side",
                    "order_type",
                    "quantity",
                    "price",
                    "is_paper",
                    "status",
                    "broker_order_id",
                    "error_message",
                )
            },
        ),
        (
            "Execution",
            {
                "fields": (
                    "filled_quantity",
                    "filled_price",
                    "filled_value",
                    "commission",
                    "slippage",
                    "realized_pnl",
                )
            },
        ),
        ("Context", {"fields": ("signal_reason", "market_conditions")}),
        (
            "Dates",
            {"fields": ("created_at", "submitted_at", "filled_at", "cancelled_at")},
        ),
    )
    readonly_fields = ("user_link", "portfolio_link", "strategy_link", "position_link")

    @admin.display(description="user")
    def user_link(self, trade: Trade) -> SafeString | str:
        return change_link(trade.user)

    @admin.display(description="portfolio")
    def portfolio_link(self, trade: Trade) -> SafeString | str:
        return change_link(trade.portfolio)

    @admin.display(description="strategy")
    def strategy_link(self, trade: Trade) -> SafeString | str:
        return change_link(trade.strategy)

    @admin.display(description="position")
    def position_link(self, trade: Trade) -> SafeString | str:
        return change_link(trade.position)
