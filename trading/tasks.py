"""Celery tasks of the trading domain: unpack arguments, call a service, nothing else.

Every task here may move money, so each is idempotent (a fill re-checks the order under its row
lock and skips a price event that already filled it), acknowledged late and rejected back to the
queue when its worker dies. None is scheduled with an ETA: resting orders wait in the database
for the matcher, expiries for the beat job.
"""

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from celery import shared_task

from trading import equity, live_balances, live_trading, orders, paper_exchange, strategy_runs
from trading.matching import PriceEvent

MONEY_TASK = {"acks_late": True, "reject_on_worker_lost": True}


def _event(symbol: str, at: str, o: str, h: str, low: str, c: str, volume: str | None):
    return PriceEvent(
        symbol=symbol,
        at=datetime.fromisoformat(at),
        open=Decimal(o),
        high=Decimal(h),
        low=Decimal(low),
        close=Decimal(c),
        volume=None if volume is None else Decimal(volume),
    )


@shared_task(name="trading.tasks.process_price", **MONEY_TASK)
def process_price(
    symbol: str,
    at: str,
    open: str,
    high: str,
    low: str,
    close: str,
    volume: str | None = None,
) -> int:
    """A price arrived (a tick: all four equal; or a closed 1m candle): fill what it crosses and
    mark positions. Returns the number of fills."""
    report = paper_exchange.on_price(_event(symbol, at, open, high, low, close, volume))
    return len(report.fills)


@shared_task(name="trading.tasks.process_candle", **MONEY_TASK)
def process_candle(
    symbol: str,
    timeframe: str,
    close_at: str,
    open: str,
    high: str,
    low: str,
    close: str,
    volume: str,
) -> int:
    """A candle closed: a 1m candle first fills what it crosses (orders waiting from earlier
    signals fill at its open), then the strategies on this symbol and timeframe are evaluated at
    its close. Returns the number of orders the strategies placed."""
    if timeframe == "1m":
        paper_exchange.on_price(_event(symbol, close_at, open, high, low, close, volume))
    placed = strategy_runs.evaluate_strategies(
        timeframe=timeframe, close_at=datetime.fromisoformat(close_at), symbols=[symbol]
    )
    return len(placed)


@shared_task(name="trading.tasks.match_resting_orders", **MONEY_TASK)
def match_resting_orders() -> int:
    """Beat job: replay each symbol's latest ticker against its resting orders and positions, so
    that a price whose task was lost is acted on within a beat."""
    return paper_exchange.process_latest_tickers()


@shared_task(name="trading.tasks.expire_orders", **MONEY_TASK)
def expire_orders() -> int:
    """Beat job: open orders past their expires_at become `expired`."""
    return len(orders.expire_orders())


@shared_task(name="trading.tasks.record_equity_snapshots", **MONEY_TASK)
def record_equity_snapshots() -> int:
    """Beat job: one equity_history row per active portfolio (replaced if run twice in the same
    minute)."""
    return equity.record_equity_snapshots()


@shared_task(name="trading.tasks.submit_live_order", **MONEY_TASK)
def submit_live_order(trade_id: str) -> str:
    """Send a pending live order to its exchange and book its fills (queued after the placing
    transaction commits). Idempotent: a trade no longer pending is never sent again."""
    return live_trading.submit(trade_id=UUID(trade_id)).status


@shared_task(name="trading.tasks.reconcile_live_orders", **MONEY_TASK)
def reconcile_live_orders() -> dict[str, int]:
    """Beat job: send live orders left pending, bring open ones in line with their exchange and
    book what filled (live_orders docstring). Idempotent: a trade already in the exchange's state
    is left as it is, a fill is booked once."""
    return live_trading.reconcile_open()


@shared_task(name="trading.tasks.reconcile_live_balances", **MONEY_TASK)
def reconcile_live_balances() -> dict[str, int]:
    """Beat job: compare each live portfolio's cash and positions with its exchange account
    (trading.live_balances). Idempotent: a second run finds what the first left."""
    return live_balances.reconcile_live_balances()
