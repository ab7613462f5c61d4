"""Backtest settings: the strategy's risk columns plus the backtest's capital and costs.

Units follow the database: commission_pct and slippage_pct are fractions (0.0010 is 0.1%); the
strategy's stop_loss_pct, take_profit_pct, trailing_stop_pct, max_position_size_pct and
max_drawdown_pct are percentages (2.00 is 2%).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

DEFAULT_POSITION_SIZE_PCT = 10.0


def _optional_float(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(Decimal(str(value)))
    except ArithmeticError as error:
        raise ValueError(f"{name}: not a number: {value!r}") from error
    return number


@dataclass(frozen=True)
class BacktestConfig:
    """Everything except the rules and candles that decides a backtest's outcome."""

    symbol: str = "BTC/USDT"
    initial_capital: float = 10_000.0
    commission_pct: float = 0.0010
    slippage_pct: float = 0.0005
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trailing_stop_pct: float | None = None
    max_position_size_pct: float = DEFAULT_POSITION_SIZE_PCT
    max_drawdown_pct: float | None = None
    timeframe: str | None = None

    def __post_init__(self) -> None:
        if not self.initial_capital > 0:
            raise ValueError("initial_capital: must be > 0")
        for name in ("commission_pct", "slippage_pct"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name}: must be a fraction in [0, 1)")
        if not 0 < self.max_position_size_pct <= 100:
            raise ValueError("max_position_size_pct: must be in (0, 100]")
        for name in ("stop_loss_pct", "trailing_stop_pct", "max_drawdown_pct"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 100:
                raise ValueError(f"{name}: must be a percentage in [0, 100]")
        if self.take_profit_pct is not None and not 0 <= self.take_profit_pct <= 1000:
            raise ValueError("take_profit_pct: must be a percentage in [0, 1000]")

    @classmethod
    def from_strategy_snapshot(
        cls,
        snapshot: dict[str, Any],
        *,
        initial_capital: Any,
        commission_pct: Any,
        slippage_pct: Any,
    ) -> BacktestConfig:
        """Config from a frozen strategy row (values may be strings, Decimals or numbers)."""
        position = _optional_float(snapshot.get("max_position_size_pct"), "max_position_size_pct")
        return cls(
            symbol=str(snapshot.get("asset_symbol") or "BTC/USDT"),
            timeframe=snapshot.get("timeframe"),
            initial_capital=float(Decimal(str(initial_capital))),
            commission_pct=float(Decimal(str(commission_pct))),
            slippage_pct=float(Decimal(str(slippage_pct))),
            stop_loss_pct=_optional_float(snapshot.get("stop_loss_pct"), "stop_loss_pct"),
            take_profit_pct=_optional_float(snapshot.get("take_profit_pct"), "take_profit_pct"),
            trailing_stop_pct=_optional_float(
                snapshot.get("trailing_stop_pct"), "trailing_stop_pct"
            ),
            max_position_size_pct=DEFAULT_POSITION_SIZE_PCT if position is None else position,
            max_drawdown_pct=_optional_float(snapshot.get("max_drawdown_pct"), "max_drawdown_pct"),
        )
