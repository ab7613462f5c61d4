"""Operator console for the balance reconciliation of live portfolios (trading.live_balances):
the discrepancies found, and the two things an operator does about one: adopt the exchange's cash
(the books take its value, audited with both values), or check the portfolio again now."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from compliance.audit import AuditContext
from core.admin_console import ReadOnlyModelAdmin, change_link
from core.errors import StateConflict
from trading.live_balances import adopt_exchange_cash, reconcile_live_balance
from trading.models import LiveBalanceDiscrepancy, Portfolio


@admin.register(LiveBalanceDiscrepancy)
class LiveBalanceDiscrepancyAdmin(ReadOnlyModelAdmin):
    list_display = (
        "detected_at",
        "portfolio",
        "kind",
        "asset",
        "books_amount",
        "exchange_amount",
        "difference",
        "status",
        "resolved_by",
    )
    list_filter = ("status", "kind")
    search_fields = ("portfolio__name", "portfolio__user__email", "asset")
    list_select_related = ("portfolio", "resolved_by")
    date_hierarchy = "detected_at"
    fields = (
        "portfolio_link",
        "kind",
        "asset",
        "books_amount",
        "exchange_amount",
        "difference",
        "status",
        "detected_at",
        "checked_at",
        "resolved_at",
        "resolved_by",
        "note",
    )
    readonly_fields = ("portfolio_link", "difference")
    actions = ("adopt_exchange_cash", "check_again")

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_adopt_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("trading.change_livebalancediscrepancy")

    @admin.display(description="portfolio")
    def portfolio_link(self, discrepancy: LiveBalanceDiscrepancy) -> SafeString | str:
        return change_link(discrepancy.portfolio)

    @admin.display(description="difference (exchange − books)")
    def difference(self, discrepancy: LiveBalanceDiscrepancy) -> str:
        return f"{discrepancy.difference:f}"

    @admin.action(
        description="Adopt the exchange's cash (the books take its value; audited)",
        permissions=["adopt"],
    )
    def adopt_exchange_cash(self, request: HttpRequest, queryset: QuerySet) -> None:
        context = AuditContext.from_request(request, channel="admin")
        adopted = 0
        for discrepancy in queryset:
            try:
                adopt_exchange_cash(discrepancy=discrepancy, actor=request.user, context=context)
                adopted += 1
            except StateConflict as error:
                self.message_user(request, f"{discrepancy}: {error}", messages.WARNING)
        if adopted:
            self.message_user(request, f"Adopted the exchange's cash for {adopted}.")

    @admin.action(description="Check these portfolios against their exchange now")
    def check_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        portfolio_ids = set(queryset.values_list("portfolio_id", flat=True))
        for portfolio in Portfolio.objects.filter(pk__in=portfolio_ids):
            check = reconcile_live_balance(portfolio=portfolio)
            level = messages.WARNING if check.outcome in ("discrepancy", "skipped") else None
            text = f"{portfolio.name}: {check.outcome}" + (
                f" ({check.reason})" if check.reason else ""
            )
            self.message_user(request, text, level or messages.INFO)
