"""Strategies that run: a stored candle series replayed through the live path (candle closes →
matcher → rule evaluation → paper orders) gives the backtest's trades for that series."""

import datetime as dt
import math
from decimal import Decimal

import pytest

from core.errors import StateConflict
from marketdata.services import CandleInput, upsert_candles
from strategies.engine import BacktestConfig, Candles, run_backtest
from tests.factories import PortfolioFactory, StrategyFactory
from trading.matching import PriceEvent
from trading.models import StrategyDeployment, Trade
from trading.paper_exchange import on_price
from trading.strategy_runs import evaluate_strategies, run_strategy, window_bars
from trading.tasks import process_candle

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

D = Decimal
SYMBOL = "BTC/USDT"
START = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
FAST_SLOW = {
    "entry": {
        "all": [
            {
                "left": {"indicator": "sma", "period": 5},
                "op": "crosses_above",
                "right": {"indicator": "sma", "period": 15},
            }
        ]
    },
    "exit": {
        "all": [
            {
                "left": {"indicator": "sma", "period": 5},
                "op": "crosses_below",
                "right": {"indicator": "sma", "period": 15},
            }
        ]
    },
}


def series(bars: int) -> list[CandleInput]:
    """A wavy, deterministic series with gaps between a close and the next open."""
    out = []
    previous = D("100")
    for i in range(bars):
        close = D(str(round(100 + 8 * math.sin(i / 9) + 3 * math.sin(i / 2.3), 4)))
        open_ = (previous + D(str(round(0.2 * math.sin(i * 1.7), 4)))).quantize(D("0.0001"))
        high = max(open_, close) + D("0.3")
        low = min(open_, close) - D("0.3")
        out.append(
            CandleInput(
                time=START + dt.timedelta(minutes=i),
                open=open_,
                high=high,
                low=low,
                close=close,
                volume=D("1000"),
            )
        )
        previous = close
    return out


def replay(candles: list[CandleInput]) -> None:
    for candle in candles:
        process_candle(
            SYMBOL,
            "1m",
            (candle.time + dt.timedelta(minutes=1)).isoformat(),
            str(candle.open),
            str(candle.high),
            str(candle.low),
            str(candle.close),
            str(candle.volume),
        )


def backtest(
    candles: list[CandleInput],
    entry: dict,
    exit_: dict,
    size: float,
    stop: float | None = None,
    target: float | None = None,
    trail: float | None = None,
    drawdown: float | None = None,
):
    arrays = Candles.from_arrays(
        time=[c.time for c in candles],
        open=[float(c.open) for c in candles],
        high=[float(c.high) for c in candles],
        low=[float(c.low) for c in candles],
        close=[float(c.close) for c in candles],
        volume=[float(c.volume) for c in candles],
    )
    config = BacktestConfig(
        symbol=SYMBOL,
        initial_capital=10_000.0,
        commission_pct=0.001,
        slippage_pct=0.0005,
        max_position_size_pct=size,
        stop_loss_pct=stop,
        take_profit_pct=target,
        trailing_stop_pct=trail,
        max_drawdown_pct=drawdown,
    )
    return run_backtest(arrays, entry_rules=entry, exit_rules=exit_, config=config).trades


def deployed(
    entry: dict, exit_: dict, size: str, stop=None, target=None, trail=None, drawdown=None
):
    portfolio = PortfolioFactory(
        commission_pct=D("0.001"), slippage_pct=D("0.0005"), total_value=D("10000.00")
    )
    strategy = StrategyFactory(
        user=portfolio.user,
        asset_symbol=SYMBOL,
        timeframe="1m",
        entry_rules=entry,
        exit_rules=exit_,
        max_position_size_pct=D(size),
        stop_loss_pct=None if stop is None else D(stop),
        take_profit_pct=None if target is None else D(target),
        trailing_stop_pct=None if trail is None else D(trail),
        max_drawdown_pct=None if drawdown is None else D(drawdown),
    )
    run_strategy(strategy=strategy, portfolio=portfolio, actor=portfolio.user)
    return strategy, portfolio


def paper_round_trips(strategy):
    trades = list(Trade.objects.filter(strategy=strategy).order_by("filled_at"))
    assert all(t.status == Trade.Status.FILLED for t in trades)
    return [trades[i : i + 2] for i in range(0, len(trades), 2)]


def bar_open(trade: Trade) -> str:
    """A paper fill at a candle's open is stamped with the candle's close time."""
    return (trade.filled_at - dt.timedelta(minutes=1)).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("direction", "stop", "target", "trail"),
    [
        ("long", None, None, None),
        ("short", None, None, None),
        ("long", "1.5", "2.5", None),
        ("short", "2", "3", None),
        ("long", "3", None, "1.5"),
        ("short", None, "3", "2"),
    ],
)
@pytest.mark.parametrize("drawdown", [None, "0.5"])
def test_replaying_stored_candles_through_the_live_path_gives_the_backtests_trades(
    direction, stop, target, trail, drawdown
):
    candles = series(300)
    upsert_candles(symbol=SYMBOL, timeframe="1m", candles=candles)
    entry = dict(FAST_SLOW["entry"])
    if direction == "short":
        entry["direction"] = "short"
    strategy, _ = deployed(
        entry, FAST_SLOW["exit"], "50", stop=stop, target=target, trail=trail, drawdown=drawdown
    )

    replay(candles)

    expected = backtest(
        candles,
        entry,
        FAST_SLOW["exit"],
        50.0,
        stop=None if stop is None else float(stop),
        target=None if target is None else float(target),
        trail=None if trail is None else float(trail),
        drawdown=None if drawdown is None else float(drawdown),
    )
    reasons = {t.exit_signal for t in expected}
    if drawdown is None:  # the series reaches the levels (a drawdown halt may stop it first)
        if stop is not None and target is not None:
            assert {"stop_loss", "take_profit"} <= reasons
        if trail is not None:
            assert "trailing_stop" in reasons
    closed = [t for t in expected if t.exit_signal != "end_of_data"]
    trips = paper_round_trips(strategy)
    assert len(closed) >= (1 if drawdown else 5)
    assert len(trips) == len(expected)  # the one the backtest ends at end_of_data is still open
    for bt, trip in zip(expected, trips, strict=True):
        opened = trip[0]
        assert bar_open(opened) == bt.entry_date.replace("+00:00", "Z")
        assert opened.side == bt.side
        assert opened.signal_reason == "entry_rules"
        assert abs(float(opened.filled_price) - bt.entry_price) < 1e-8
        # Sized from the cash, which the paper account settles in cents (the backtest's equity
        # is unrounded): each earlier fill may move the budget by half a cent.
        fills_before = 2 * (bt.trade_number - 1)
        budget_gap = float(opened.filled_quantity) * bt.entry_price - bt.quantity * bt.entry_price
        assert abs(budget_gap) <= 0.005 * fills_before * 0.5 + 1e-6
        if bt.exit_signal == "end_of_data":
            assert len(trip) == 1
            continue
        closing = trip[1]
        assert closing.signal_reason == bt.exit_signal
        assert bar_open(closing) == bt.exit_date.replace("+00:00", "Z")
        assert abs(float(closing.filled_price) - bt.exit_price) < 1e-8
        net = opened.realized_pnl + closing.realized_pnl
        assert math.isclose(float(net), bt.net_pnl, rel_tol=1e-4, abs_tol=0.01)
    strategy.refresh_from_db()
    assert strategy.last_signal_at is not None


def test_a_candle_evaluated_twice_places_one_order():
    candles = series(120)
    upsert_candles(symbol=SYMBOL, timeframe="1m", candles=candles)
    deployed(FAST_SLOW["entry"], FAST_SLOW["exit"], "10")
    expected = backtest(candles, FAST_SLOW["entry"], FAST_SLOW["exit"], 10.0)
    first_entry = START + (
        dt.datetime.fromisoformat(expected[0].entry_date.replace("Z", "+00:00")) - START
    )  # the bar whose open filled; the signal was at the bar before's close
    close_at = first_entry
    placed = evaluate_strategies(timeframe="1m", close_at=close_at, symbols=[SYMBOL])
    again = evaluate_strategies(timeframe="1m", close_at=close_at, symbols=[SYMBOL])
    assert len(placed) == 1 and again == []
    assert placed[0].status == Trade.Status.SUBMITTED and placed[0].quote_quantity is not None


def test_the_window_covers_the_warm_up_and_more_for_recursive_indicators():
    assert window_bars(FAST_SLOW["entry"], FAST_SLOW["exit"]) == 14 + 1 + 2
    ema = {"all": [{"left": {"indicator": "ema", "period": 20}, "op": ">", "right": 1}]}
    assert window_bars(ema, {}) == 19 * 10 + 2


def test_a_strategy_needs_a_portfolio_of_its_own_user_and_mode():
    strategy = StrategyFactory(stop_loss_pct=None, take_profit_pct=None)
    with pytest.raises(StateConflict):
        run_strategy(
            strategy=strategy,
            portfolio=PortfolioFactory(user=strategy.user, live=True),
            actor=strategy.user,
        )
    with pytest.raises(Exception, match="No such portfolio"):
        run_strategy(strategy=strategy, portfolio=PortfolioFactory(), actor=strategy.user)


def test_a_drawdown_limit_halts_new_entries():
    candles = series(300)
    upsert_candles(symbol=SYMBOL, timeframe="1m", candles=candles)
    strategy, _ = deployed(FAST_SLOW["entry"], FAST_SLOW["exit"], "50", drawdown="0.5")
    replay(candles)
    expected = backtest(candles, FAST_SLOW["entry"], FAST_SLOW["exit"], 50.0, drawdown=0.5)
    unlimited = backtest(candles, FAST_SLOW["entry"], FAST_SLOW["exit"], 50.0)
    assert len(expected) < len(unlimited)  # the limit matters on this series
    assert len(paper_round_trips(strategy)) == len(expected)
    assert StrategyDeployment.objects.get(strategy=strategy).halted_at is not None


def test_a_candle_is_evaluated_once_even_after_its_order_filled_and_late_ones_are_skipped():
    """The exit rule holds on every bar: evaluating the entry's candle again once the entry has
    filled would sell at once. The deployment's evaluated close prevents it, and an older
    candle arriving late is not evaluated either."""
    candles = series(120)
    upsert_candles(symbol=SYMBOL, timeframe="1m", candles=candles)
    always = {"all": [{"left": "close", "op": ">", "right": 0}]}
    strategy, _ = deployed(FAST_SLOW["entry"], always, "10")
    expected = backtest(candles, FAST_SLOW["entry"], always, 10.0)
    close_at = dt.datetime.fromisoformat(expected[0].entry_date.replace("Z", "+00:00"))
    [entry] = evaluate_strategies(timeframe="1m", close_at=close_at, symbols=[SYMBOL])
    following = next(c for c in candles if c.time == close_at)
    on_price(
        PriceEvent(
            symbol=SYMBOL,
            at=close_at + dt.timedelta(minutes=1),
            open=following.open,
            high=following.high,
            low=following.low,
            close=following.close,
            volume=following.volume,
        )
    )
    entry.refresh_from_db()
    assert entry.status == Trade.Status.FILLED  # in the position: the exit rule would fire now

    assert evaluate_strategies(timeframe="1m", close_at=close_at, symbols=[SYMBOL]) == []
    earlier = close_at - dt.timedelta(minutes=1)
    assert evaluate_strategies(timeframe="1m", close_at=earlier, symbols=[SYMBOL]) == []
    assert Trade.objects.filter(strategy=strategy).count() == 1
    deployment = StrategyDeployment.objects.get(strategy=strategy)
    assert deployment.evaluated_close_at == close_at
    [exit_] = evaluate_strategies(
        timeframe="1m", close_at=close_at + dt.timedelta(minutes=1), symbols=[SYMBOL]
    )
    assert exit_.side == "SELL" and exit_.signal_reason == "exit_rules"
