"""Candles for backtest tests, written through market data's upsert_candles service, and a strategy
whose single trade is easy to compute by hand."""

import datetime as dt
from decimal import Decimal

from marketdata.services import CandleInput, upsert_candles

START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

# (open, close) of eight one-minute bars from START. close > 105 first on bar 1, so the entry
# fills at bar 2's open (107); close < 95 first on bar 5, so the exit fills at bar 6's open (93).
ONE_TRADE_BARS = [
    (100, 100),
    (100, 106),
    (107, 108),
    (108, 104),
    (104, 96),
    (96, 94),
    (93, 93),
    (93, 93),
]
ENTRY_ABOVE_105 = {"left": "close", "op": ">", "right": 105}
EXIT_BELOW_95 = {"left": "close", "op": "<", "right": 95}
NEVER = {"left": "close", "op": ">", "right": 1_000_000}
# StrategyFactory overrides for a strategy that trades ONE_TRADE_BARS exactly once, no stops.
ONE_TRADE_STRATEGY = {
    "timeframe": "1m",
    "entry_rules": ENTRY_ABOVE_105,
    "exit_rules": EXIT_BELOW_95,
    "stop_loss_pct": None,
    "take_profit_pct": None,
}

# 10% of 10,000 at 107, no costs: quantity 1000/107; P&L (93 - 107) × 1000/107 = -130.8411...
ONE_TRADE_QUANTITY = Decimal("9.34579439")
ONE_TRADE_NET_PNL = Decimal("-130.84112150")
ONE_TRADE_FINAL_CAPITAL = Decimal("9869.16")


def insert_candles(
    bars: list[tuple[int, int]],
    *,
    symbol: str = "BTC/USDT",
    timeframe: str = "1m",
    start: dt.datetime = START,
    step: dt.timedelta = dt.timedelta(minutes=1),
) -> None:
    """One candle per (open, close), `step` apart; the wicks reach 0.5 beyond the body."""
    candles = [
        CandleInput(
            time=start + i * step,
            open=Decimal(open_),
            high=Decimal(max(open_, close)) + Decimal("0.5"),
            low=Decimal(min(open_, close)) - Decimal("0.5"),
            close=Decimal(close),
            volume=Decimal(10),
        )
        for i, (open_, close) in enumerate(bars)
    ]
    upsert_candles(symbol=symbol, timeframe=timeframe, candles=candles)
