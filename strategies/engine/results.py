"""The engine's output: closed trades and everything a run produces, as plain floats and JSON-ready
values. The database columns' precisions are not the engine's business: strategies.result_columns
turns these into the backtests / backtest_trades columns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Trade:
    """One closed round trip, with what a backtest_trades row needs (times are ISO 8601 UTC)."""

    trade_number: int
    entry_date: str
    exit_date: str
    symbol: str
    side: str
    quantity: float
    entry_price: float
    exit_price: float
    commission: float
    slippage: float
    gross_pnl: float
    net_pnl: float
    pnl_pct: float
    entry_signal: str
    exit_signal: str
    market_conditions: dict[str, Any]
    entry_bar: int
    exit_bar: int


@dataclass
class BacktestResult:
    """Everything a run produces; all attributes are JSON-serialisable plain Python."""

    trades: list[Trade]
    metrics: dict[str, Any]
    equity_curve: list[dict[str, Any]]
    monthly_returns: list[dict[str, Any]]
    drawdown_periods: list[dict[str, Any]]
    bars: int = 0
    warmup_bars: int = 0
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The whole result as a JSON-ready dict."""
        return asdict(self)
