"""The backtest engine: pure functions over NumPy arrays, no Django imports."""

from strategies.engine.candles import Candles
from strategies.engine.config import BacktestConfig
from strategies.engine.results import BacktestResult, Trade
from strategies.engine.simulate import BacktestCancelled, equity_series, run_backtest

__all__ = [
    "BacktestCancelled",
    "BacktestConfig",
    "BacktestResult",
    "Candles",
    "Trade",
    "equity_series",
    "run_backtest",
]
