"""Periodic jobs, run by Celery beat through django-celery-beat's database scheduler.

Each app's jobs are listed here by task name so that beat sees them all in one place.
"""

from collections.abc import Iterable
from datetime import timedelta

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    # Every 20 s: with the heartbeat's 30 s TTL, a dead worker's backtest fails within a minute.
    "strategies.fail_stale_backtests": {
        "task": "strategies.tasks.fail_stale_backtests",
        "schedule": timedelta(seconds=20),
    },
    "strategies.recover_optimisations": {
        "task": "strategies.tasks.recover_optimisations",
        "schedule": crontab(minute="*/5"),
    },
    # The timeseries database: rollups every 10 minutes like the ohlcv_1h policy, retention
    # daily. Under TimescaleDB its policies do this; the rollup job then only retries refreshes
    # of logged history that failed, and retention does nothing.
    "marketdata.refresh_ohlcv_rollups": {
        "task": "marketdata.tasks.refresh_ohlcv_rollups",
        "schedule": crontab(minute="*/10"),
    },
    # Live orders whose outcome is not final yet (submitted, partial, timed out): ask the exchange.
    "trading.reconcile_live_orders": {
        "task": "trading.tasks.reconcile_live_orders",
        "schedule": crontab(minute="*"),
    },
    # Live portfolios' cash and positions against their exchange accounts (trading.live_balances).
    "trading.reconcile_live_balances": {
        "task": "trading.tasks.reconcile_live_balances",
        "schedule": crontab(minute="*/5"),
    },
    "marketdata.enforce_retention": {
        "task": "marketdata.tasks.enforce_retention",
        "schedule": crontab(minute=17, hour=3),
    },
    # Paper trading: resting orders against the latest tickers (prices also arrive as tasks;
    # this catches any that were lost), expiries, and equity snapshots.
    "trading.match_resting_orders": {
        "task": "trading.tasks.match_resting_orders",
        "schedule": 10.0,
    },
    "trading.expire_orders": {
        "task": "trading.tasks.expire_orders",
        "schedule": 30.0,
    },
    "trading.record_equity_snapshots": {
        "task": "trading.tasks.record_equity_snapshots",
        "schedule": crontab(minute="*/5"),
    },
    "accounts.evaluate_alerts_at_tickers": {
        "task": "accounts.tasks.evaluate_alerts_at_tickers",
        "schedule": 30.0,
    },
    "accounts.expire_alerts": {
        "task": "accounts.tasks.expire_alerts",
        "schedule": crontab(minute="*"),
    },
}


def parse_ohlcv_downloads(text: str) -> list[tuple[str, str, str]]:
    """`binance:BTC/USDT:1m,binance:ETH/USDT:1h` (the OHLCV_DOWNLOADS environment variable) as
    (exchange, symbol, timeframe) triples."""
    targets = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        parts = item.split(":")
        if len(parts) != 3 or not all(parts) or not parts[2][:-1].isdigit():
            raise ValueError(f"OHLCV_DOWNLOADS: expected EXCHANGE:SYMBOL:TIMEFRAME, got {item!r}.")
        targets.append((parts[0], parts[1], parts[2]))
    return targets


def ohlcv_download_schedule(targets: Iterable[tuple[str, str, str]]) -> dict[str, dict]:
    """One beat job per (exchange, symbol, timeframe) of settings.OHLCV_DOWNLOADS, run as often as
    the timeframe closes a candle (a minute past, so that the exchange has closed it): every N
    minutes for Nm, at minute 1 every N hours for Nh, at 00:01 daily for longer timeframes."""
    schedule = {}
    for exchange, symbol, timeframe in targets:
        count, unit = int(timeframe[:-1]), timeframe[-1]
        if unit == "m":
            when = crontab(minute=f"*/{count}")
        elif unit == "h":
            when = crontab(minute=1, hour=f"*/{count}")
        else:
            when = crontab(minute=1, hour=0)
        schedule[f"marketdata.download_ohlcv:{exchange}:{symbol}:{timeframe}"] = {
            "task": "marketdata.tasks.download_ohlcv",
            "schedule": when,
            "args": [exchange, symbol, timeframe],
        }
    return schedule
