"""Metrics on hand-computed equity series; None wherever a metric is undefined."""

import math
from decimal import Decimal

import numpy as np
import pytest

from strategies.engine import BacktestResult
from strategies.engine.metrics import (
    compute_metrics,
    daily_returns,
    drawdown_report,
    equity_curve_points,
    monthly_returns,
    periods_per_year,
    thin_indices,
    trade_metrics,
)
from strategies.models import BACKTEST_RESULT_FIELDS
from strategies.result_columns import ColumnOverflow, exact_decimal, quantize, result_columns

HOUR = 3_600_000_000_000
DAY = 24 * HOUR
MONDAY = np.datetime64("2024-01-01T00:00", "ns").astype(np.int64)

# Mon 00:00, Mon 12:00, Tue 00:00, Wed 00:00 -> end-of-day equity 110, 99, 108.9
TIMES = MONDAY + np.array([0, 12 * HOUR, DAY, 2 * DAY])
EQUITY = np.array([100.0, 110.0, 99.0, 108.9])
NO_TRADES = (np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))


def test_daily_returns_use_the_last_equity_of_each_utc_day():
    np.testing.assert_allclose(daily_returns(TIMES, EQUITY, 100.0), [0.1, -0.1, 0.1])


def test_annualisation_is_252_on_weekdays_and_365_with_weekend_bars():
    assert periods_per_year(TIMES) == 252
    saturday = MONDAY + 5 * DAY
    assert periods_per_year(np.append(TIMES, saturday)) == 365


def test_sharpe_sortino_calmar_and_returns_by_hand():
    metrics, _periods = compute_metrics(TIMES, EQUITY, 100.0, *NO_TRADES)
    # returns 0.1, -0.1, 0.1: mean 1/30, sample std sqrt(0.04/3), downside sqrt(0.01/3)
    mean = 1 / 30
    assert metrics["sharpe_ratio"] == pytest.approx(mean / math.sqrt(0.04 / 3) * math.sqrt(252))
    assert metrics["sortino_ratio"] == pytest.approx(mean / math.sqrt(0.01 / 3) * math.sqrt(252))
    assert metrics["final_capital"] == pytest.approx(108.9)
    assert metrics["total_return_pct"] == pytest.approx(8.9)
    annualized = (1.089 ** (252 / 3) - 1) * 100
    assert metrics["annualized_return_pct"] == pytest.approx(annualized)
    assert metrics["max_drawdown_pct"] == pytest.approx(10.0)
    assert metrics["calmar_ratio"] == pytest.approx(annualized / 10.0)
    # from the 110 peak (Mon 12:00) to the end (Wed 00:00) unrecovered: 1.5 days
    assert metrics["max_drawdown_duration_days"] == 1


def test_drawdown_periods_have_start_trough_recovery_depth_and_duration():
    times = MONDAY + np.arange(8) * DAY
    equity = np.array([100, 120, 90, 120, 125, 100, 110, 130.0])
    max_dd, longest, periods = drawdown_report(times, equity)
    assert max_dd == pytest.approx(25.0)
    assert longest == 3
    assert periods == [
        {
            "start": "2024-01-02T00:00:00Z",
            "trough": "2024-01-03T00:00:00Z",
            "recovery": "2024-01-04T00:00:00Z",
            "depth_pct": pytest.approx(25.0),
            "duration_days": 2.0,
            "recovered": True,
        },
        {
            "start": "2024-01-05T00:00:00Z",
            "trough": "2024-01-06T00:00:00Z",
            "recovery": "2024-01-08T00:00:00Z",
            "depth_pct": pytest.approx(20.0),
            "duration_days": 3.0,
            "recovered": True,
        },
    ]


def test_an_unrecovered_drawdown_has_no_recovery():
    times = MONDAY + np.arange(3) * DAY
    _max_dd, _longest, [period] = drawdown_report(times, np.array([100.0, 80.0, 90.0]))
    assert period["recovery"] is None and period["recovered"] is False
    assert period["trough"] == "2024-01-02T00:00:00Z" and period["duration_days"] == 2.0


def test_trade_metrics_by_hand():
    metrics = trade_metrics(
        np.array([10.0, -5.0, 0.0, 20.0]),
        np.array([1.0, -0.5, 0.0, 2.0]),
        np.array([60, 120, 180, 240]) * 60_000_000_000,
    )
    assert metrics == {
        "total_trades": 4,
        "winning_trades": 2,
        "losing_trades": 1,
        "win_rate_pct": 50.0,
        "profit_factor": 6.0,
        "avg_trade_pct": 0.625,
        "avg_win_pct": 1.5,
        "avg_loss_pct": -0.5,
        "avg_trade_duration_minutes": 150,
    }


def test_profit_factor_and_average_loss_are_none_without_losing_trades():
    metrics = trade_metrics(np.array([3.0]), np.array([0.3]), np.array([60_000_000_000]))
    assert metrics["profit_factor"] is None and metrics["avg_loss_pct"] is None
    assert metrics["win_rate_pct"] == 100.0


def test_trade_metrics_without_trades_are_none_or_zero():
    metrics = trade_metrics(*NO_TRADES)
    assert metrics["total_trades"] == 0 and metrics["winning_trades"] == 0
    for name in ("win_rate_pct", "profit_factor", "avg_trade_pct", "avg_trade_duration_minutes"):
        assert metrics[name] is None


def test_flat_equity_has_no_sharpe_sortino_or_calmar():
    times = MONDAY + np.arange(5) * DAY
    metrics, periods = compute_metrics(times, np.full(5, 100.0), 100.0, *NO_TRADES)
    assert metrics["sharpe_ratio"] is None
    assert metrics["sortino_ratio"] is None
    assert metrics["calmar_ratio"] is None
    assert metrics["max_drawdown_pct"] == 0.0 and periods == []
    assert metrics["annualized_return_pct"] == 0.0


def test_only_gains_give_a_sharpe_but_no_sortino():
    times = MONDAY + np.arange(3) * DAY
    metrics, _ = compute_metrics(times, np.array([101.0, 103.0, 104.0]), 100.0, *NO_TRADES)
    assert metrics["sharpe_ratio"] is not None and metrics["sortino_ratio"] is None


def test_a_single_day_has_no_ratios():
    metrics, _ = compute_metrics(TIMES[:2], EQUITY[:2], 100.0, *NO_TRADES)
    assert metrics["sharpe_ratio"] is None and metrics["sortino_ratio"] is None


def test_an_annualised_return_too_large_for_a_float_is_none():
    times = MONDAY + np.array([0, HOUR])
    metrics, _ = compute_metrics(times, np.array([100.0, 1e6]), 100.0, *NO_TRADES)
    assert metrics["annualized_return_pct"] is None
    assert metrics["total_return_pct"] == pytest.approx(999_900.0)


def test_monthly_returns_chain_month_end_equity():
    times = np.array(
        ["2024-01-15", "2024-01-31", "2024-02-10", "2024-03-01"], dtype="datetime64[ns]"
    ).astype(np.int64)
    months = monthly_returns(times, np.array([105.0, 110.0, 99.0, 108.9]), 100.0)
    assert [m["month"] for m in months] == ["2024-01", "2024-02", "2024-03"]
    np.testing.assert_allclose([m["return_pct"] for m in months], [10.0, -10.0, 10.0])


def test_equity_curve_is_thinned_to_2000_points_keeping_the_extremes():
    rng = np.random.default_rng(11)
    equity = 100 + np.cumsum(rng.normal(size=100_003))
    idx = thin_indices(equity)
    assert len(idx) <= 2000
    assert {0, len(equity) - 1, int(np.argmax(equity)), int(np.argmin(equity))} <= set(idx)
    gaps = np.diff(idx)
    assert gaps.max() <= 2 * (len(equity) / 1996)  # evenly spread
    points = equity_curve_points(MONDAY + np.arange(len(equity)) * HOUR, equity)
    assert len(points) == len(idx)
    assert max(p["equity"] for p in points) == equity.max()
    assert min(p["equity"] for p in points) == equity.min()


def uptrend_with_a_dip(bars=10_000, at=5_003, depth=0.25):
    """A steady rise with one dip of `depth` at bar `at` (not on the even grid), recovered on the
    next bar: the dip's trough is not the lowest equity, which is the first bar."""
    equity = 100.0 * 1.0001 ** np.arange(bars)
    equity[at] = equity[at - 1] * (1.0 - depth)
    return equity


def thinned_max_drawdown_pct(equity, idx):
    kept = equity[idx]
    return float(np.max(1.0 - kept / np.maximum.accumulate(kept)) * 100.0)


def test_thinning_keeps_the_peak_trough_and_recovery_of_a_drawdown_that_is_not_the_minimum():
    equity = uptrend_with_a_dip()
    max_dd, _days, _periods = drawdown_report(MONDAY + np.arange(len(equity)) * HOUR, equity)

    idx = thin_indices(equity)

    assert len(idx) <= 2000
    assert {5_002, 5_003, 5_004} <= set(idx.tolist())
    assert max_dd == pytest.approx(25.0)
    assert thinned_max_drawdown_pct(equity, idx) == pytest.approx(max_dd, rel=1e-12)


def test_thinning_keeps_the_deepest_drawdowns_first_and_stays_within_2000_points():
    rng = np.random.default_rng(5)
    equity = 100.0 * 1.0001 ** np.arange(50_000)
    dips = rng.choice(np.arange(1, 50_000, 2), size=3_000, replace=False)
    equity[dips] *= 1.0 - rng.uniform(0.001, 0.05, size=dips.shape[0])
    deepest = 10_001
    equity[deepest] = equity[deepest - 1] * 0.6
    max_dd, _days, _periods = drawdown_report(MONDAY + np.arange(len(equity)) * HOUR, equity)

    idx = thin_indices(equity)

    assert len(idx) <= 2000
    assert {deepest - 1, deepest, deepest + 1} <= set(idx.tolist())
    assert thinned_max_drawdown_pct(equity, idx) == pytest.approx(max_dd, rel=1e-12)
    assert np.diff(idx).max() <= 2 * (len(equity) / 1500)  # still evenly spread


@pytest.mark.parametrize("seed", range(5))
def test_the_thinned_curve_has_the_max_drawdown_of_the_full_curve(seed):
    rng = np.random.default_rng(seed)
    equity = 1_000 + np.cumsum(rng.normal(0.05, 1.0, size=30_011))
    max_dd, _days, _periods = drawdown_report(MONDAY + np.arange(len(equity)) * HOUR, equity)

    idx = thin_indices(equity)

    assert len(idx) <= 2000
    assert thinned_max_drawdown_pct(equity, idx) == pytest.approx(max_dd, rel=1e-12)


def test_short_curves_are_kept_whole():
    assert thin_indices(np.ones(5)).tolist() == [0, 1, 2, 3, 4]


def test_quantize_rounds_to_the_scale_and_clamps_to_the_column():
    assert quantize(1.23456, 6, 4) == Decimal("1.2346")
    assert quantize(150.0, 6, 4) == Decimal("99.9999")
    assert quantize(-150.0, 6, 4) == Decimal("-99.9999")
    assert quantize(float("nan"), 6, 4) is None
    assert quantize(float("inf"), 6, 4) is None
    assert quantize(None, 6, 4) is None


def test_result_columns_cover_every_backtests_result_column():
    metrics, periods = compute_metrics(TIMES, EQUITY, 100.0, *NO_TRADES)
    result = BacktestResult(
        trades=[],
        metrics=metrics,
        equity_curve=[],
        monthly_returns=[],
        drawdown_periods=periods,
    )
    columns = result_columns(result)
    # Every result column of the backtests table, and nothing else.
    assert set(columns) == {
        *BACKTEST_RESULT_FIELDS,
        "equity_curve",
        "monthly_returns",
        "drawdown_periods",
    }
    assert columns["final_capital"] == Decimal("108.90")
    assert columns["max_drawdown_pct"] == Decimal("10.0000")
    assert columns["sharpe_ratio"] == Decimal("4.5826")
    # Calmar here is ~12,900: far beyond NUMERIC(6,4), so it saturates
    assert columns["calmar_ratio"] == Decimal("99.9999")
    assert columns["win_rate_pct"] is None and columns["total_trades"] == 0


def test_calmar_is_stored_over_the_stored_drawdown_when_the_drawdown_saturates():
    # A short marked below zero (a 150% drawdown) that recovers to +10% over the year: the column
    # holds 99.9999, and the stored Calmar is over that, as a reader of the row would compute it.
    times = MONDAY + np.arange(365) * DAY
    equity = np.linspace(100.0, 110.0, 365)
    equity[100] = -0.5 * equity[99]
    metrics, periods = compute_metrics(times, equity, 100.0, *NO_TRADES)
    assert metrics["max_drawdown_pct"] == pytest.approx(150.0)
    assert metrics["annualized_return_pct"] == pytest.approx(10.0)
    result = BacktestResult(
        trades=[], metrics=metrics, equity_curve=[], monthly_returns=[], drawdown_periods=periods
    )

    columns = result_columns(result)

    assert columns["max_drawdown_pct"] == Decimal("99.9999")
    assert columns["calmar_ratio"] == Decimal("0.1000")
    assert metrics["calmar_ratio"] == pytest.approx(10.0 / 150.0)  # the exact float is kept


def test_weekly_bars_annualise_by_calendar_time_and_one_return_per_bar():
    # 52 weekly bars: 357 days from the first to the last, plus its week = 364 days; +10%.
    times = MONDAY + np.arange(52) * 7 * DAY
    equity = 100.0 * (1.1 ** (np.arange(1, 53) / 52))
    metrics, _ = compute_metrics(times, equity, 100.0, *NO_TRADES)

    expected = (1.1 ** (365 / 364) - 1) * 100
    assert metrics["annualized_return_pct"] == pytest.approx(expected, rel=1e-9)
    assert metrics["periods_per_year"] == pytest.approx(365.25 / 7, abs=0.01)


def test_a_gap_in_crypto_data_does_not_stretch_the_year():
    # 90 calendar days with a Saturday bar each day except a 30-day hole; +10% overall.
    days = np.concatenate([np.arange(0, 30), np.arange(60, 90)])
    times = MONDAY + days * DAY
    equity = np.linspace(101.0, 110.0, days.shape[0])
    metrics, _ = compute_metrics(times, equity, 100.0, *NO_TRADES)

    expected = (1.1 ** (365 / 90) - 1) * 100
    assert metrics["annualized_return_pct"] == pytest.approx(expected, rel=1e-9)


def test_money_that_does_not_fit_its_column_raises_instead_of_saturating():
    assert exact_decimal(1234.5, 15, 8, column="net_pnl") == Decimal("1234.50000000")
    with pytest.raises(ColumnOverflow, match=r"net_pnl 19,880,179\.79 does not fit"):
        exact_decimal(19_880_179.79, 15, 8, column="net_pnl")
    with pytest.raises(ColumnOverflow, match="rounds to 0"):
        exact_decimal(3e-9, 18, 8, column="quantity")
    assert quantize(150.0, 6, 4) == Decimal("99.9999")  # ratios still saturate
