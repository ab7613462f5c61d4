"""Reads of optimisations, scoped to the user who asks, and the report (best variants, the
walk-forward folds, stitched out-of-sample equity, parameter stability) that the API, the console
and `manage.py optimize` all show."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet

from accounts.models import User
from strategies.models import BACKTEST_RESULT_FIELDS, Optimisation, OptimisationVariant
from strategies.optimisation import efficiency, parameter_stability, stitch_points

# What the variant list can be sorted by (?ordering=-sharpe_ratio).
VARIANT_SORT_FIELDS = ("variant_number", "objective_value", *BACKTEST_RESULT_FIELDS)


def optimisations_for(user: User) -> QuerySet[Optimisation]:
    return Optimisation.objects.filter(user=user).select_related("strategy").order_by("-created_at")


def variants_of(
    optimisation: Optimisation, *, fold: int = 0, ordering: str | None = None
) -> QuerySet[OptimisationVariant]:
    """The variants of one fold (0: the whole window), by `ordering` (a VARIANT_SORT_FIELDS name,
    "-" for descending; NULLs always last), then by number. Raises ValueError for another name."""
    queryset = OptimisationVariant.objects.filter(optimisation=optimisation, fold=fold)
    if not ordering:
        return queryset.order_by("variant_number")
    name = ordering.removeprefix("-")
    if name not in VARIANT_SORT_FIELDS:
        raise ValueError(
            f"ordering: must be one of {', '.join(VARIANT_SORT_FIELDS)}, '-' first for descending"
        )
    field = (
        F(name).desc(nulls_last=True) if ordering.startswith("-") else F(name).asc(nulls_last=True)
    )
    return queryset.order_by(field, "variant_number")


def ranked_variants(optimisation: Optimisation, *, fold: int = 0) -> QuerySet[OptimisationVariant]:
    """Qualifying variants with a defined objective, best first; ties to the lower number."""
    return OptimisationVariant.objects.filter(
        optimisation=optimisation,
        fold=fold,
        meets_constraints=True,
        objective_value__isnull=False,
    ).order_by(F("objective_value").desc(), "variant_number")


def best_variant(optimisation: Optimisation, *, fold: int = 0) -> OptimisationVariant | None:
    return ranked_variants(optimisation, fold=fold).first()


def walk_forward_report(optimisation: Optimisation) -> dict[str, Any] | None:
    """Per fold: windows, chosen parameters, in-sample and out-of-sample objective and return;
    the out-of-sample equity stitched across folds; the parameters' stability; the efficiency
    (mean OOS objective / mean IS objective). None for a plain optimisation."""
    if not optimisation.is_walk_forward:
        return None
    folds = list(optimisation.folds.order_by("fold_number"))
    rows = [
        {
            "fold": fold.fold_number,
            "in_sample_start": fold.in_sample_start,
            "in_sample_end": fold.in_sample_end,
            "out_of_sample_start": fold.out_of_sample_start,
            "out_of_sample_end": fold.out_of_sample_end,
            "parameters": fold.parameters,
            "in_sample_objective": fold.in_sample_objective,
            "out_of_sample_objective": fold.out_of_sample_objective,
            "out_of_sample_return_pct": fold.total_return_pct,
            "out_of_sample_trades": fold.total_trades,
            "error_message": fold.error_message,
        }
        for fold in folds
    ]
    capital = float(optimisation.initial_capital)
    scored = [f for f in folds if f.out_of_sample_equity]
    return {
        "folds": rows,
        "folds_expected": optimisation.walk_forward_folds,
        "stitched_equity": stitch_points([f.out_of_sample_equity for f in scored], capital),
        "parameter_stability": parameter_stability([f.parameters for f in folds if f.parameters]),
        "efficiency": efficiency(
            [f.in_sample_objective for f in folds], [f.out_of_sample_objective for f in folds]
        ),
    }


def parameter_paths(optimisation: Optimisation) -> list[str]:
    return list(optimisation.parameter_space or {})


def objective_grid(
    optimisation: Optimisation, x_path: str, y_path: str
) -> tuple[dict[tuple[Any, Any], float | None], list[Any], list[Any]]:
    """For the heatmap: per (x value, y value) of the whole window's variants, the best objective
    among the qualifying ones (None: none qualified); and the sorted x and y values."""
    cells: dict[tuple[Any, Any], float | None] = {}
    rows = OptimisationVariant.objects.filter(optimisation=optimisation, fold=0).values_list(
        "parameters", "objective_value", "meets_constraints"
    )
    for parameters, value, qualifies in rows:
        key = (parameters.get(x_path), parameters.get(y_path))
        score = float(value) if value is not None and qualifies else None
        best = cells.get(key)
        cells[key] = score if best is None else (best if score is None else max(best, score))

    def ordered(values: set) -> list[Any]:
        return sorted(values, key=lambda v: (v is not None, v if v is not None else 0))

    return (
        cells,
        ordered({x for x, _y in cells}),
        ordered({y for _x, y in cells}),
    )
