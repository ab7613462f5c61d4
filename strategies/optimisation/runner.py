"""Running variants: each one is an ordinary engine run (strategies.engine.run_backtest) with the
variant's values written into the strategy, over candles already in memory, sharing one indicator
cache so that each distinct indicator series is computed once for all the variants that use it.

Candles in, result columns out (quantized from the model fields by strategies.result_columns,
the one place that knows the columns). The service stores what this returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from strategies import engine
from strategies.optimisation.objective import meets_constraints, objective_value
from strategies.optimisation.space import apply_parameters
from strategies.result_columns import (
    BACKTEST_DECIMAL_COLUMNS,
    BACKTEST_INTEGER_COLUMNS,
    result_columns,
)
from strategies.rules.evaluate import IndicatorCache

# The result columns a variant keeps: the metrics, not the series.
METRIC_COLUMNS = frozenset(BACKTEST_DECIMAL_COLUMNS) | frozenset(BACKTEST_INTEGER_COLUMNS)
RISK_FIELDS = ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "max_position_size_pct")


@dataclass(frozen=True)
class VariantOutcome:
    """One variant's stored result: the backtest result columns (Decimals at the columns'
    scales), its objective value, whether it meets the constraints, or why it could not run."""

    number: int
    parameters: dict[str, Any]
    columns: dict[str, Any]
    objective: Decimal | None
    meets_constraints: bool
    error: str | None = None
    result: engine.BacktestResult | None = None


def variant_inputs(
    snapshot: Mapping[str, Any], parameters: Mapping[str, Any], base_config: engine.BacktestConfig
) -> tuple[dict[str, Any], dict[str, Any], engine.BacktestConfig]:
    """(entry_rules, exit_rules, config) of the snapshot with the variant's values applied."""
    trees = {"entry_rules": snapshot["entry_rules"], "exit_rules": snapshot["exit_rules"]}
    risk = {name: getattr(base_config, name) for name in RISK_FIELDS}
    new_trees, new_risk = apply_parameters(trees=trees, risk=risk, parameters=dict(parameters))
    changes = {
        name: (None if value is None else float(value))
        for name, value in new_risk.items()
        if name in parameters
    }
    if changes.get("max_position_size_pct", 1.0) is None:
        changes["max_position_size_pct"] = engine.config.DEFAULT_POSITION_SIZE_PCT
    config = dataclasses.replace(base_config, **changes)
    return new_trees["entry_rules"], new_trees["exit_rules"], config


def run_variant(
    candles: engine.Candles,
    *,
    number: int,
    snapshot: Mapping[str, Any],
    parameters: Mapping[str, Any],
    base_config: engine.BacktestConfig,
    objective: str,
    constraints: Mapping[str, Any],
    indicator_cache: IndicatorCache | None = None,
    should_cancel: Callable[[], bool] | None = None,
    keep_result: bool = False,
) -> VariantOutcome:
    """One variant through the engine. A variant the engine refuses (an invalid combination such
    as MACD fast >= slow, a result too large for its columns) is an outcome with its error, not an
    exception: the optimisation carries on. BacktestCancelled propagates."""
    try:
        entry_rules, exit_rules, config = variant_inputs(snapshot, parameters, base_config)
        result = engine.run_backtest(
            candles,
            entry_rules=entry_rules,
            exit_rules=exit_rules,
            config=config,
            should_cancel=should_cancel,
            indicator_cache=indicator_cache,
        )
        columns = {
            name: value for name, value in result_columns(result).items() if name in METRIC_COLUMNS
        }
    except engine.BacktestCancelled:
        raise
    except ValueError as error:  # RuleValidationError, ColumnOverflow, config errors
        return VariantOutcome(
            number=number,
            parameters=dict(parameters),
            columns={},
            objective=None,
            meets_constraints=False,
            error=str(error),
        )
    return VariantOutcome(
        number=number,
        parameters=dict(parameters),
        columns=columns,
        objective=objective_value(columns, objective),
        meets_constraints=meets_constraints(columns, constraints),
        result=result if keep_result else None,
    )
