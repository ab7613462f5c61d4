"""The engine's results on the backtests / backtest_trades columns: Decimals at each column's
NUMERIC precision and scale, read from the model fields, so that the models are the one place
that knows the columns.

Ratios beyond what their column can hold (a Sharpe of 150) are clamped to its limit; amounts of
money, prices and quantities never are: one that does not fit raises ColumnOverflow, and the run
fails with that message rather than store books that do not add up.
"""

from __future__ import annotations

import functools
import math
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db import models

from strategies.engine.results import BacktestResult, Trade
from strategies.models import Backtest, BacktestTrade


def _decimal_columns(
    model: type[models.Model], names: tuple[str, ...]
) -> dict[str, tuple[int, int]]:
    fields = (model._meta.get_field(name) for name in names)
    return {field.name: (field.max_digits, field.decimal_places) for field in fields}


# NUMERIC(precision, scale) of every decimal result column (database-schema.md §3.3, §3.4).
BACKTEST_DECIMAL_COLUMNS = _decimal_columns(
    Backtest,
    (
        "final_capital",
        "total_return_pct",
        "annualized_return_pct",
        "sharpe_ratio",
        "sortino_ratio",
        "calmar_ratio",
        "max_drawdown_pct",
        "win_rate_pct",
        "profit_factor",
        "avg_trade_pct",
        "avg_win_pct",
        "avg_loss_pct",
    ),
)
BACKTEST_INTEGER_COLUMNS: tuple[str, ...] = (
    "max_drawdown_duration_days",
    "total_trades",
    "winning_trades",
    "losing_trades",
    "avg_trade_duration_minutes",
)
TRADE_DECIMAL_COLUMNS = _decimal_columns(
    BacktestTrade,
    (
        "quantity",
        "entry_price",
        "exit_price",
        "commission",
        "slippage",
        "gross_pnl",
        "net_pnl",
        "pnl_pct",
    ),
)
# Amounts, prices and quantities: stored exactly or not at all.
EXACT_COLUMNS = frozenset(
    {
        "final_capital",
        "quantity",
        "entry_price",
        "exit_price",
        "commission",
        "slippage",
        "gross_pnl",
        "net_pnl",
    }
)
_INT32_MAX = 2_147_483_647


class ColumnOverflow(ValueError):
    """A money, price or quantity value that its NUMERIC column cannot hold."""


@functools.cache
def column_limit(precision: int, scale: int) -> Decimal:
    """The largest value NUMERIC(precision, scale) holds, e.g. 99.9999 for NUMERIC(6,4)."""
    return Decimal(10) ** (precision - scale) - _step(scale)


@functools.cache
def _step(scale: int) -> Decimal:
    return Decimal(1).scaleb(-scale)


def quantize(value: float | None, precision: int, scale: int) -> Decimal | None:
    """Decimal at `scale` places, clamped into NUMERIC(precision, scale); None when undefined."""
    if value is None or not math.isfinite(value):
        return None
    step = _step(scale)
    limit = column_limit(precision, scale)
    number = Decimal(repr(float(value)))
    if number > limit:
        return limit
    if number < -limit:
        return -limit
    return number.quantize(step, rounding=ROUND_HALF_EVEN)


def exact_decimal(
    value: float | None, precision: int, scale: int, *, column: str
) -> Decimal | None:
    """Like quantize, but a value beyond NUMERIC(precision, scale), or a quantity that rounds to
    nothing at `scale` places, raises ColumnOverflow instead of being clamped."""
    if value is None or not math.isfinite(value):
        return None
    exact = Decimal(repr(float(value)))
    # Beyond the limit is beyond the column; at most the limit rounds to at most the limit,
    # which lies on the column's grid.
    if abs(exact) > column_limit(precision, scale):
        raise ColumnOverflow(
            f"{column} {float(value):,.2f} does not fit NUMERIC({precision},{scale}); "
            "use a smaller initial capital or position size"
        )
    number = exact.quantize(_step(scale), rounding=ROUND_HALF_EVEN)
    if column == "quantity" and number == 0:
        raise ColumnOverflow(
            f"quantity {float(value):.3e} rounds to 0 at {scale} decimals; "
            "use a larger initial capital or position size"
        )
    return number


def _column_value(name: str, value: float | None, precision: int, scale: int) -> Decimal | None:
    if name in EXACT_COLUMNS:
        return exact_decimal(value, precision, scale, column=name)
    return quantize(value, precision, scale)


def _clamp_int(value: Any) -> int | None:
    if value is None:
        return None
    return max(-_INT32_MAX, min(_INT32_MAX, int(value)))


def _stored_calmar(metrics: dict[str, Any], columns: dict[str, Any]) -> Decimal | None:
    """calmar_ratio for the column: over the drawdown as stored. They differ only when the
    drawdown saturated max_drawdown_pct (beyond 99.9999: a short marked below zero); the ratio
    is then annualized_return_pct / 99.9999, so that the row agrees with itself."""
    precision, scale = BACKTEST_DECIMAL_COLUMNS["calmar_ratio"]
    drawdown = metrics.get("max_drawdown_pct")
    stored_drawdown = columns["max_drawdown_pct"]
    annualized = metrics.get("annualized_return_pct")
    saturated = (
        drawdown is not None
        and stored_drawdown is not None
        and Decimal(repr(float(drawdown))) > stored_drawdown
        and stored_drawdown == column_limit(*BACKTEST_DECIMAL_COLUMNS["max_drawdown_pct"])
    )
    if saturated and annualized is not None:
        return quantize(annualized / float(stored_drawdown), precision, scale)
    return quantize(metrics.get("calmar_ratio"), precision, scale)


def result_columns(result: BacktestResult) -> dict[str, Any]:
    """Values for the backtests result columns: Decimals at column scale, ints, JSON lists."""
    columns: dict[str, Any] = {}
    for name, (precision, scale) in BACKTEST_DECIMAL_COLUMNS.items():
        columns[name] = _column_value(name, result.metrics.get(name), precision, scale)
    for name in BACKTEST_INTEGER_COLUMNS:
        columns[name] = _clamp_int(result.metrics.get(name))
    columns["calmar_ratio"] = _stored_calmar(result.metrics, columns)
    columns["equity_curve"] = result.equity_curve
    columns["monthly_returns"] = result.monthly_returns
    columns["drawdown_periods"] = result.drawdown_periods
    return columns


def parse_utc(moment: str) -> datetime:
    """An aware datetime from the engine's ISO 8601 'Z' timestamps."""
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def trade_columns(trade: Trade) -> dict[str, Any]:
    """Values for one backtest_trades row (without backtest_id), decimals at column scale."""
    row: dict[str, Any] = {
        "trade_number": trade.trade_number,
        "entry_date": parse_utc(trade.entry_date),
        "exit_date": parse_utc(trade.exit_date),
        "symbol": trade.symbol,
        "side": trade.side,
        "entry_signal": trade.entry_signal,
        "exit_signal": trade.exit_signal,
        "market_conditions": trade.market_conditions,
        "is_open": False,
    }
    for name, (precision, scale) in TRADE_DECIMAL_COLUMNS.items():
        row[name] = _column_value(name, getattr(trade, name), precision, scale)
    return row
