"""Three example strategies in the rule language, shaped like rows of the strategies table."""

from __future__ import annotations

from typing import Any

SMA_CROSS_WITH_RSI_FILTER: dict[str, Any] = {
    "name": "SMA 20/50 cross with RSI filter",
    "description": "Buy when SMA(20) crosses above SMA(50) unless RSI(14) is overbought; "
    "sell when it crosses back below.",
    "asset_symbol": "BTC/USDT",
    "timeframe": "1h",
    "entry_rules": {
        "all": [
            {
                "left": {"indicator": "sma", "period": 20},
                "op": "crosses_above",
                "right": {"indicator": "sma", "period": 50},
            },
            {"left": {"indicator": "rsi", "period": 14}, "op": "<", "right": 70},
        ]
    },
    "exit_rules": {
        "left": {"indicator": "sma", "period": 20},
        "op": "crosses_below",
        "right": {"indicator": "sma", "period": 50},
    },
    "stop_loss_pct": "2.00",
    "take_profit_pct": "4.00",
    "trailing_stop_pct": None,
    "max_position_size_pct": "10.00",
    "max_drawdown_pct": None,
}

BOLLINGER_MEAN_REVERSION: dict[str, Any] = {
    "name": "Bollinger mean reversion",
    "description": "Buy a close below the lower band while RSI(14) < 30 and the market is not "
    "in a strong downtrend; exit at the middle band.",
    "asset_symbol": "BTC/USDT",
    "timeframe": "1h",
    "entry_rules": {
        "all": [
            {
                "left": "close",
                "op": "<",
                "right": {"indicator": "bbands", "period": 20, "stddev": 2, "output": "lower"},
            },
            {"left": {"indicator": "rsi", "period": 14}, "op": "<", "right": 30},
            {
                "not": {
                    "left": {"indicator": "roc", "period": 24},
                    "op": "<",
                    "right": -10,
                }
            },
        ]
    },
    "exit_rules": {
        "any": [
            {
                "left": "close",
                "op": ">=",
                "right": {"indicator": "bbands", "period": 20, "stddev": 2, "output": "middle"},
            },
            {"left": {"indicator": "rsi", "period": 14}, "op": ">", "right": 60},
        ]
    },
    "stop_loss_pct": "3.00",
    "take_profit_pct": None,
    "trailing_stop_pct": None,
    "max_position_size_pct": "20.00",
    "max_drawdown_pct": "15.00",
}

MACD_MOMENTUM_SHORT: dict[str, Any] = {
    "name": "MACD momentum short",
    "description": "Short when the MACD histogram turns negative below the session VWAP; cover "
    "when it turns positive. A trailing stop protects gains.",
    "asset_symbol": "BTC/USDT",
    "timeframe": "1h",
    "entry_rules": {
        "direction": "short",
        "all": [
            {
                "left": {
                    "indicator": "macd",
                    "fast": 12,
                    "slow": 26,
                    "signal": 9,
                    "output": "histogram",
                },
                "op": "crosses_below",
                "right": 0,
            },
            {"left": "close", "op": "<", "right": {"indicator": "vwap"}},
            {
                "left": {"indicator": "ema", "period": 50},
                "op": "<",
                "right": {"indicator": "ema", "period": 50, "offset": 5},
            },
        ],
    },
    "exit_rules": {
        "left": {"indicator": "macd", "fast": 12, "slow": 26, "signal": 9, "output": "histogram"},
        "op": "crosses_above",
        "right": 0,
    },
    "stop_loss_pct": "2.50",
    "take_profit_pct": "6.00",
    "trailing_stop_pct": "1.50",
    "max_position_size_pct": "10.00",
    "max_drawdown_pct": "20.00",
}

EXAMPLE_STRATEGIES: list[dict[str, Any]] = [
    SMA_CROSS_WITH_RSI_FILTER,
    BOLLINGER_MEAN_REVERSION,
    MACD_MOMENTUM_SHORT,
]
