"""Strategies on timeframes derived from a 1m feed: market data announces each closed 1h, 4h or
1d bucket once as the feed's 1m writes close it, and the strategy runner trades on it exactly as
a backtest of the derived series (the candles the API serves) trades: the same entry and exit
bars, sides and fill prices. Transactional, so every write commits and the rollups refresh after
it as in production (in TimescaleDB mode too: the feed lies weeks back, so its writes are logged
and refreshed); the tasks the announcements queue run in this process."""

import datetime as dt
import math
from decimal import Decimal
from unittest import mock

import pytest
from celery import current_app

from marketdata.selectors import candle_arrays
from marketdata.services import CandleInput, upsert_candles
from marketdata.timeframes import Timeframe
from strategies.engine import BacktestConfig, Candles, run_backtest
from tests.factories import PortfolioFactory, StrategyFactory
from trading.models import StrategyDeployment, Trade
from trading.strategy_runs import run_strategy
from trading.tasks import process_candle

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)

D = Decimal
MINUTE = dt.timedelta(minutes=1)
START = Timeframe.parse("1d").floor(dt.datetime.now(dt.UTC)) - dt.timedelta(days=30)


def cross(op: str) -> dict:
    return {
        "all": [
            {
                "left": {"indicator": "sma", "period": 2},
                "op": op,
                "right": {"indicator": "sma", "period": 5},
            }
        ]
    }


ENTRY, EXIT = cross("crosses_above"), cross("crosses_below")


def series(buckets: int, per_bucket: int) -> list[CandleInput]:
    """Minutes whose buckets of `per_bucket` minutes swing enough for SMA(2)/SMA(5) to cross."""
    out = []
    previous = D("100")
    for i in range(buckets * per_bucket):
        b = i / per_bucket
        value = 100 + 8 * math.sin(b / 1.0) + 3 * math.sin(b / 0.6) + 0.3 * math.sin(i / 7)
        close = D(str(round(value, 4)))
        open_ = (previous + D(str(round(0.05 * math.sin(i * 1.7), 4)))).quantize(D("0.0001"))
        out.append(
            CandleInput(
                time=START + i * MINUTE,
                open=open_,
                high=max(open_, close) + D("0.1"),
                low=min(open_, close) - D("0.1"),
                close=close,
                volume=D("100000"),
            )
        )
        previous = close
    return out


@pytest.fixture
def tasks():
    """Tasks sent by name run at once in this process (as a worker would); returns the
    (name, args) sent."""
    current_app.loader.import_default_modules()
    sent: list[tuple[str, list]] = []

    def send_task(name, args=None, kwargs=None, **options):
        sent.append((name, list(args or [])))
        return current_app.tasks[name].apply(args=args, kwargs=kwargs, throw=True)

    with mock.patch("celery.current_app.send_task", side_effect=send_task):
        yield sent


def write(symbol: str, candles: list[CandleInput]) -> None:
    """The feed writes a batch a second after its newest minute has ended."""
    moment = max(c.time for c in candles) + MINUTE + dt.timedelta(seconds=1)
    with mock.patch("marketdata.candle_closes.now", return_value=moment):
        upsert_candles(symbol=symbol, timeframe="1m", candles=candles)


def backtest(candles: Candles, symbol: str):
    config = BacktestConfig(
        symbol=symbol,
        initial_capital=10_000.0,
        commission_pct=0.001,
        slippage_pct=0.0005,
        max_position_size_pct=50.0,
    )
    return run_backtest(candles, entry_rules=ENTRY, exit_rules=EXIT, config=config).trades


@pytest.mark.parametrize(
    ("timeframe", "buckets", "symbol"),
    [("1h", 36, "DRVH/USDT"), ("4h", 30, "DRVF/USDT"), ("1d", 22, "DRVD/USDT")],
)
def test_a_1m_feed_drives_a_strategy_on_a_derived_timeframe_to_the_backtests_trades(
    tasks, timeframe, buckets, symbol
):
    frame = Timeframe.parse(timeframe)
    per_bucket = int(frame.width / MINUTE)
    minutes = series(buckets, per_bucket)
    portfolio = PortfolioFactory(
        commission_pct=D("0.001"), slippage_pct=D("0.0005"), total_value=D("10000.00")
    )
    strategy = StrategyFactory(
        user=portfolio.user,
        asset_symbol=symbol,
        timeframe=timeframe,
        entry_rules=ENTRY,
        exit_rules=EXIT,
        max_position_size_pct=D("50"),
        stop_loss_pct=None,
        take_profit_pct=None,
        trailing_stop_pct=None,
        max_drawdown_pct=None,
    )
    run_strategy(strategy=strategy, portfolio=portfolio, actor=portfolio.user)

    # The feed delivers each bucket as its first minute, then the rest of it in one batch.
    for k in range(buckets):
        bucket = minutes[k * per_bucket : (k + 1) * per_bucket]
        write(symbol, bucket[:1])
        write(symbol, bucket[1:])

    # Each bucket's close was announced and evaluated once, at its end.
    closes = [
        dt.datetime.fromisoformat(args[2])
        for name, args in tasks
        if name == "trading.tasks.process_candle" and args[1] == timeframe
    ]
    assert closes == [START + (k + 1) * frame.width for k in range(buckets)]

    arrays = candle_arrays(
        symbol=symbol, timeframe=timeframe, start=START, end=START + buckets * frame.width
    )
    assert len(arrays["close"]) == buckets
    expected = backtest(Candles.from_arrays(**arrays), symbol)
    assert len([t for t in expected if t.exit_signal != "end_of_data"]) >= 2

    filled = list(
        Trade.objects.filter(strategy=strategy, status=Trade.Status.FILLED).order_by("filled_at")
    )
    waiting = Trade.objects.filter(strategy=strategy).exclude(status=Trade.Status.FILLED)
    assert waiting.count() <= 1  # a signal at the last close waits for a next price
    trips = [filled[i : i + 2] for i in range(0, len(filled), 2)]
    assert len(trips) == len(expected)
    for bt, trip in zip(expected, trips, strict=True):
        opened = trip[0]
        # A fill at a bucket's open is the fill at its first minute's open, stamped with that
        # minute's close.
        assert opened.filled_at - MINUTE == dt.datetime.fromisoformat(bt.entry_date)
        assert opened.side == bt.side == "BUY"
        assert abs(float(opened.filled_price) - bt.entry_price) < 1e-8
        if bt.exit_signal == "end_of_data":
            assert len(trip) == 1
            continue
        closing = trip[1]
        assert closing.signal_reason == bt.exit_signal == "exit_rules"
        assert closing.filled_at - MINUTE == dt.datetime.fromisoformat(bt.exit_date)
        assert abs(float(closing.filled_price) - bt.exit_price) < 1e-8

    # Written again, retried: no bucket is announced or evaluated twice, no order is added.
    orders = Trade.objects.filter(strategy=strategy).count()
    sent = len(tasks)
    last = minutes[-per_bucket:]
    write(symbol, last[1:])
    write(symbol, last[-1:])
    again = [args for name, args in tasks[sent:] if name == "trading.tasks.process_candle"]
    assert again and all(args[1] == "1m" for args in again)  # the minute, not the bucket
    close_at = START + buckets * frame.width
    bucket_values = [str(arrays[k][-1]) for k in ("open", "high", "low", "close", "volume")]
    assert process_candle(symbol, timeframe, close_at.isoformat(), *bucket_values) == 0
    assert Trade.objects.filter(strategy=strategy).count() == orders
    deployment = StrategyDeployment.objects.get(strategy=strategy)
    assert deployment.evaluated_close_at == close_at
