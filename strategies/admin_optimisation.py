"""Operator console for optimisations: the list with progress, a cancel action, and each
optimisation's report: a heatmap of the objective over two chosen parameters (?x=PATH&y=PATH),
the top variants, and for a walk-forward the chart and per-fold table."""

import uuid
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from compliance.audit import AuditContext
from core.admin_console import change_link
from core.console_writes import ServiceModelAdmin, console_context
from strategies.models import Optimisation
from strategies.optimisation_charts import heatmap_svg, walk_forward_svg
from strategies.optimisation_selectors import (
    objective_grid,
    parameter_paths,
    ranked_variants,
    walk_forward_report,
)
from strategies.services.optimisations import (
    OptimisationStateError,
    apply_variant,
    cancel_optimisation,
    delete_optimisation,
)

TOP_VARIANTS = 20
TOP_COLUMNS = (
    "objective_value",
    "total_return_pct",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown_pct",
    "profit_factor",
    "total_trades",
)
FOLD_COLUMNS = (
    ("fold", "fold"),
    ("out of sample from", "out_of_sample_start"),
    ("to", "out_of_sample_end"),
    ("parameters", "parameters"),
    ("in-sample objective", "in_sample_objective"),
    ("out-of-sample objective", "out_of_sample_objective"),
    ("OOS return %", "out_of_sample_return_pct"),
    ("OOS trades", "out_of_sample_trades"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _table(header: list[str], rows: list[list[Any]], css: str) -> SafeString:
    head = format_html_join("", "<th>{}</th>", ((h,) for h in header))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((_cell(v),) for v in row)),) for row in rows),
    )
    return format_html(
        '<table class="{}"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', css, head, body
    )


def top_variants_table(optimisation: Optimisation) -> SafeString:
    paths = parameter_paths(optimisation)
    variants = list(ranked_variants(optimisation)[:TOP_VARIANTS])
    if not variants:
        return format_html("<p>No variant has run and met the constraints yet.</p>")
    rows = [
        [
            v.variant_number,
            *(v.parameters.get(p) for p in paths),
            *(getattr(v, c) for c in TOP_COLUMNS),
        ]
        for v in variants
    ]
    return _table(["#", *paths, *TOP_COLUMNS], rows, "optimisation-top-variants")


def heatmap(optimisation: Optimisation, x_path: str | None, y_path: str | None) -> SafeString:
    paths = parameter_paths(optimisation)
    if len(paths) < 2:
        return format_html("<p>A heatmap needs two parameters; this space has {}.</p>", len(paths))
    x_path = x_path if x_path in paths else paths[0]
    y_path = (
        y_path if y_path in paths and y_path != x_path else next(p for p in paths if p != x_path)
    )
    cells, xs, ys = objective_grid(optimisation, x_path, y_path)
    links = format_html_join(
        " · ",
        '<a href="?x={}&amp;y={}">{} × {}</a>',
        ((a, b, a, b) for a in paths for b in paths if a != b),
    )
    # heatmap_svg escapes every text it writes; the rest is numbers it formats.
    svg = mark_safe(
        heatmap_svg(
            cells,
            x_values=xs,
            y_values=ys,
            x_label=x_path,
            y_label=y_path,
            objective=optimisation.objective,
        )
    )
    return format_html("<p>Other pairs: {}</p>{}", links, svg)


def walk_forward_section(optimisation: Optimisation) -> SafeString:
    report = walk_forward_report(optimisation)
    if report is None:
        return format_html("")
    rows = [[fold[key] for _label, key in FOLD_COLUMNS] for fold in report["folds"]]
    stability = [
        [
            path,
            ", ".join(_cell(v) for v in info["values"]),
            info["mean"],
            info["std"],
            info["coefficient_of_variation"],
        ]
        for path, info in report["parameter_stability"].items()
    ]
    return format_html(
        "<h2>Walk-forward</h2>{}<p>{} of {} folds scored; efficiency (mean OOS / mean IS "
        "objective): {}</p>{}<h3>Parameter stability</h3>{}",
        mark_safe(walk_forward_svg(report)),
        len(report["folds"]),
        report["folds_expected"],
        _cell(report["efficiency"]),
        _table([label for label, _key in FOLD_COLUMNS], rows, "walk-forward-folds"),
        _table(
            ["parameter", "chosen per fold", "mean", "std", "coefficient of variation"],
            stability,
            "parameter-stability",
        ),
    )


@admin.register(Optimisation)
class OptimisationAdmin(ServiceModelAdmin):
    """Viewed, cancelled, applied and deleted (a finished one) through the services; optimisations
    start through the API or `manage.py optimise`."""

    list_display = (
        "__str__",
        "strategy",
        "user",
        "status",
        "progress",
        "objective",
        "search_method",
        "walk_forward_folds",
        "created_at",
    )
    list_filter = ("status", "objective", "search_method")
    search_fields = ("strategy__name", "user__email")
    list_select_related = ("strategy", "user")
    date_hierarchy = "created_at"
    actions = ["cancel_optimisations", "apply_best_variants"]
    readonly_fields = ("strategy_link", "user_link", "progress")
    fieldsets = (
        (None, {"fields": ("strategy_link", "user_link", "status", "progress", "error_message")}),
        (
            "Window and costs",
            {
                "fields": (
                    "start_date",
                    "end_date",
                    "initial_capital",
                    "commission_pct",
                    "slippage_pct",
                )
            },
        ),
        (
            "Search",
            {
                "fields": (
                    "parameter_space",
                    "search_method",
                    "random_seed",
                    "max_variants",
                    "objective",
                    "constraints",
                    "walk_forward_folds",
                    "walk_forward_mode",
                    "in_sample_ratio",
                    "chunk_size",
                )
            },
        ),
        ("Run", {"fields": ("created_at", "started_at", "completed_at")}),
        ("Strategy as optimised", {"classes": ("collapse",), "fields": ("strategy_snapshot",)}),
    )

    @admin.display(description="progress")
    def progress(self, optimisation: Optimisation) -> str:
        done, total = optimisation.variants_done, optimisation.variants_total
        return f"{done:,} / {total:,} ({optimisation.progress_pct}%)"

    @admin.display(description="strategy")
    def strategy_link(self, optimisation: Optimisation) -> SafeString | str:
        return change_link(optimisation.strategy)

    @admin.display(description="user")
    def user_link(self, optimisation: Optimisation) -> SafeString | str:
        return change_link(optimisation.user)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        optimisation = (
            Optimisation.objects.filter(pk=object_id).first() if _is_uuid(object_id) else None
        )
        if optimisation is not None:
            report = format_html(
                "<h2>Objective heatmap</h2>{}<h2>Top variants</h2>{}{}",
                heatmap(optimisation, request.GET.get("x"), request.GET.get("y")),
                top_variants_table(optimisation),
                walk_forward_section(optimisation),
            )
            extra_context = {**(extra_context or {}), "optimisation_report": report}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Cancel the selected optimisations", permissions=["cancel"])
    def cancel_optimisations(self, request: HttpRequest, queryset: QuerySet[Optimisation]) -> None:
        context = console_context(request)
        cancelled, refused = 0, []
        for optimisation in queryset:
            try:
                cancel_optimisation(optimisation=optimisation, actor=request.user, context=context)
                cancelled += 1
            except OptimisationStateError:
                refused.append(f"{optimisation} ({optimisation.status})")
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} optimisations.", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                "Only pending or running optimisations can be cancelled; left as they were: "
                + ", ".join(refused),
                messages.WARNING,
            )

    @admin.action(
        description="Write the best variant into its strategy (next version)",
        permissions=["cancel"],
    )
    def apply_best_variants(self, request: HttpRequest, queryset: QuerySet[Optimisation]) -> None:
        context = console_context(request)
        for optimisation in queryset:
            try:
                strategy = apply_variant(
                    optimisation=optimisation, actor=request.user, context=context
                )
            except (OptimisationStateError, ValidationError) as error:
                self.message_user(request, f"{optimisation}: {_reason(error)}", messages.WARNING)
            else:
                self.message_user(
                    request, f"{strategy} now holds the best variant of {optimisation}."
                )

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("strategies.change_optimisation")

    def delete_through_service(
        self, request: HttpRequest, obj: Optimisation, context: AuditContext
    ) -> None:
        delete_optimisation(optimisation=obj, actor=request.user, context=context)


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return str(error)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
