"""A daily strategy over twenty years of imported daily candles: the import is stored at 1d,
outlives ohlcv's retention (which deletes 1m candles only, in both modes), is read as it is by
candle_arrays(), and backtested end to end (most of it lies far past the 1m candles' retention
horizon)."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from marketdata.services import import_ohlcv
from strategies.models import Backtest, BacktestTrade
from strategies.services.backtest_runs import run_backtest
from strategies.services.backtests import start_backtest
from tests.factories import StrategyFactory
from tests.marketdata.helpers import run_ohlcv_retention

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

FIRST_DAY = dt.date(2005, 1, 3)
DAYS = 7300


def daily_file(path: Path) -> Path:
    """A slow sawtooth: 40 days up by 1, then 40 days down by 1, from 100."""
    lines = ["date,open,high,low,close,volume"]
    close = 100.0
    for i in range(DAYS):
        previous = close
        close += 1 if (i // 40) % 2 == 0 else -1
        day = FIRST_DAY + dt.timedelta(days=i)
        high, low = max(previous, close) + 0.5, min(previous, close) - 0.5
        lines.append(f"{day.isoformat()}T00:00:00Z,{previous},{high},{low},{close},{1000 + i % 7}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_1d_import_survives_retention_and_is_backtested_end_to_end(tmp_path: Path) -> None:
    result = import_ohlcv(path=daily_file(tmp_path / "daily.csv"), symbol="DAILY/USD",
                          timeframe="1d", source="stooq")  # fmt: skip
    assert result.report.rows_written == DAYS
    run_ohlcv_retention()
    strategy = StrategyFactory(
        asset_symbol="DAILY/USD",
        timeframe="1d",
        entry_rules={"left": {"indicator": "sma", "period": 5}, "op": "crosses_above",
                     "right": {"indicator": "sma", "period": 20}},
        exit_rules={"left": {"indicator": "sma", "period": 5}, "op": "crosses_below",
                    "right": {"indicator": "sma", "period": 20}},
        stop_loss_pct=None,
        take_profit_pct=None,
    )  # fmt: skip
    backtest = start_backtest(
        user=strategy.user,
        strategy=strategy,
        start_date=FIRST_DAY,
        end_date=FIRST_DAY + dt.timedelta(days=DAYS - 1),
        initial_capital=Decimal("10000.00"),
        enqueue=False,
    )

    run_backtest(backtest_id=backtest.pk)

    backtest.refresh_from_db()
    assert backtest.status == Backtest.Status.COMPLETED, backtest.error_message
    # One round trip per 80-day cycle of the sawtooth (the last one may close at the data's end).
    cycles = DAYS // 80
    assert cycles - 1 <= backtest.total_trades <= cycles + 1
    trades = BacktestTrade.objects.filter(backtest=backtest).order_by("trade_number")
    assert trades.count() == backtest.total_trades
    assert trades[0].entry_date.date() < dt.date(2005, 6, 1)
    assert trades[0].net_pnl > 0  # bought on the way up, sold after the turn
