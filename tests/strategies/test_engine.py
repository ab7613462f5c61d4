"""Execution semantics, each pinned by a tiny hand-made candle series (docs/execution-semantics.md).

Signals are carried by the volume column so that every test controls them exactly: volume 2 on a
bar means "entry rules hold at this close", volume 3 "exit rules hold", anything else neither.
"""

import dataclasses
import json
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.engine import (
    BacktestCancelled,
    BacktestConfig,
    Candles,
    equity_series,
    run_backtest,
)
from strategies.result_columns import result_columns, trade_columns
from strategies.rules import RuleValidationError, evaluate_rules

HOUR = 3_600_000_000_000
START = np.datetime64("2024-01-01T00:00", "ns").astype(np.int64)  # a Monday
ENTRY = {
    "all": [
        {"left": "volume", "op": ">", "right": 1.5},
        {"left": "volume", "op": "<", "right": 2.5},
    ]
}
EXIT = {"left": "volume", "op": ">", "right": 2.5}
SHORT_ENTRY = {"direction": "short", **ENTRY}
FLAT = BacktestConfig(
    initial_capital=10_000.0, commission_pct=0.0, slippage_pct=0.0, max_position_size_pct=100.0
)
N, E, X = 1.0, 2.0, 3.0  # volume codes: nothing, entry signal, exit signal


def bars(*rows) -> Candles:
    """Candles from (open, high, low, close, signal) rows, one hour apart."""
    data = np.array(rows, dtype=float)
    return Candles.from_arrays(
        START + np.arange(len(rows)) * HOUR,
        data[:, 0],
        data[:, 1],
        data[:, 2],
        data[:, 3],
        data[:, 4],
    )


def run(candles, config=FLAT, entry=ENTRY, exit_rules=EXIT, **kwargs):
    return run_backtest(candles, entry_rules=entry, exit_rules=exit_rules, config=config, **kwargs)


def test_signal_at_a_close_fills_at_the_next_open():
    candles = bars(
        (100, 101, 99, 100, E),
        (102, 103, 101, 102, N),
        (103, 104, 102, 103, X),
        (105, 106, 104, 105, N),
        (106, 107, 105, 106, N),
    )
    result = run(candles, dataclasses.replace(FLAT, max_position_size_pct=10.0))
    [trade] = result.trades
    assert (trade.entry_bar, trade.entry_price) == (1, 102.0)
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (3, 105.0, "exit_rules")
    assert trade.entry_date == "2024-01-01T01:00:00Z"
    assert trade.exit_date == "2024-01-01T03:00:00Z"
    assert trade.quantity == pytest.approx(1000.0 / 102.0)
    assert trade.side == "BUY" and trade.entry_signal == "entry_rules"
    assert trade.gross_pnl == pytest.approx(1000.0 / 102.0 * 3.0)


def test_slippage_moves_fills_against_the_trader_and_commission_is_charged_on_both_fills():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99, 100, X),
        (110, 111, 109, 110, N),
    )
    config = BacktestConfig(
        initial_capital=10_000.0,
        commission_pct=0.001,
        slippage_pct=0.0005,
        max_position_size_pct=50.0,
    )
    [trade] = run(candles, config).trades
    entry_fill = 100 * 1.0005
    exit_fill = 110 * 0.9995
    # the position plus its entry commission is 50% of equity
    quantity = 5_000.0 / (entry_fill * 1.001)
    commission = quantity * (entry_fill + exit_fill) * 0.001
    assert trade.entry_price == pytest.approx(entry_fill)
    assert trade.exit_price == pytest.approx(exit_fill)
    assert trade.quantity == pytest.approx(quantity)
    assert trade.commission == pytest.approx(commission)
    assert trade.slippage == pytest.approx(quantity * (100 + 110) * 0.0005)
    assert trade.gross_pnl == pytest.approx(quantity * (exit_fill - entry_fill))
    assert trade.net_pnl == pytest.approx(trade.gross_pnl - commission)
    assert trade.pnl_pct == pytest.approx(trade.net_pnl / (quantity * entry_fill) * 100)
    result = run(candles, config)
    assert result.metrics["final_capital"] == pytest.approx(10_000.0 + trade.net_pnl)


def test_stop_loss_inside_a_bar_fills_at_the_stop():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 100.5, 99, 99.5, N),
        (99.5, 100, 97, 99, N),
        (99, 99, 99, 99, N),
    )
    [trade] = run(candles, dataclasses.replace(FLAT, stop_loss_pct=2.0)).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (2, 98.0, "stop_loss")


def test_take_profit_inside_a_bar_fills_at_the_target():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99, 100.5, N),
        (101, 105, 100.5, 104.5, N),
        (104, 104, 104, 104, N),
    )
    config = dataclasses.replace(FLAT, stop_loss_pct=2.0, take_profit_pct=4.0)
    [trade] = run(candles, config).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (2, 104.0, "take_profit")


def test_a_target_exactly_at_the_bar_high_is_hit_despite_float_rounding():
    # 100 * 1.1 is 110.00000000000001 in floating point; prices have 8 decimals, so it is 110.
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99, 100.5, N),
        (101, 110, 100.5, 105, N),
        (105, 106, 104, 105, N),
    )
    config = dataclasses.replace(FLAT, take_profit_pct=10.0)
    [trade] = run(candles, config).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (2, 110.0, "take_profit")


@pytest.mark.parametrize("trailing_stop_pct", [None, 50.0], ids=["fixed", "with-a-wide-trail"])
@pytest.mark.parametrize(
    ("entry", "touching_bar", "level", "reason"),
    [
        (ENTRY, (99, 100, 98, 99, N), 98.0, "stop_loss"),  # long stop 98 = the bar's low
        (ENTRY, (101, 104, 100.5, 103, N), 104.0, "take_profit"),  # long target 104 = high
        (SHORT_ENTRY, (101, 102, 100.5, 101, N), 102.0, "stop_loss"),  # short stop 102 = high
        (SHORT_ENTRY, (99, 99.5, 96, 97, N), 96.0, "take_profit"),  # short target 96 = low
    ],
    ids=["long-stop-at-low", "long-target-at-high", "short-stop-at-high", "short-target-at-low"],
)
def test_a_level_touched_exactly_by_the_bar_fills_at_the_level(
    entry, touching_bar, level, reason, trailing_stop_pct
):
    """Touching is enough (docs/execution-semantics.md): a bar whose low or high equals the stop
    or target fills there, on the bar-scanning path with and without a trailing stop."""
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99, 100, N),  # inside both levels: 98..104 long, 96..102 short
        touching_bar,
        (100, 100, 100, 100, N),
    )
    config = dataclasses.replace(
        FLAT, stop_loss_pct=2.0, take_profit_pct=4.0, trailing_stop_pct=trailing_stop_pct
    )
    [trade] = run(candles, config, entry=entry).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (2, level, reason)


def test_gap_through_the_stop_fills_at_the_open():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99, 100, N),
        (95, 96, 94, 95.5, N),
    )
    [trade] = run(candles, dataclasses.replace(FLAT, stop_loss_pct=2.0)).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (2, 95.0, "stop_loss")


def test_gap_through_the_target_fills_at_the_open():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99, 100, N),
        (106, 107, 105, 106, N),
    )
    [trade] = run(candles, dataclasses.replace(FLAT, take_profit_pct=4.0)).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (2, 106.0, "take_profit")


def test_stop_is_taken_when_stop_and_target_share_a_bar():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99, 100, N),
        (100, 105, 97, 101, N),
    )
    config = dataclasses.replace(FLAT, stop_loss_pct=2.0, take_profit_pct=4.0)
    [trade] = run(candles, config).trades
    assert (trade.exit_price, trade.exit_signal) == (98.0, "stop_loss")


def test_stops_are_checked_on_the_entry_bar():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 100.5, 97, 99, N),
        (99, 99, 99, 99, N),
    )
    [trade] = run(candles, dataclasses.replace(FLAT, stop_loss_pct=2.0)).trades
    assert (trade.entry_bar, trade.exit_bar, trade.exit_price) == (1, 1, 98.0)


def test_trailing_stop_follows_the_highest_high_of_earlier_bars():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99.5, 100.5, N),
        # high 110 then low 104.5 in the same bar: the new high only counts from the next bar
        (101, 110, 104.5, 109, N),
        (109, 109.5, 103, 104, N),
        (104, 104, 104, 104, N),
    )
    config = dataclasses.replace(FLAT, stop_loss_pct=2.0, trailing_stop_pct=5.0)
    [trade] = run(candles, config).trades
    assert trade.exit_bar == 3
    assert trade.exit_price == pytest.approx(110 * 0.95)
    assert trade.exit_signal == "trailing_stop"


def test_trailing_stop_starts_from_the_entry_fill():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 100, 94.5, 95, N),
        (95, 95, 95, 95, N),
    )
    [trade] = run(candles, dataclasses.replace(FLAT, trailing_stop_pct=5.0)).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (1, 95.0, "trailing_stop")


def test_a_long_trailing_stop_exactly_at_the_bar_low_is_hit_despite_float_rounding():
    # 116 * 0.95 is 110.19999999999999 in floating point; at the prices' 8 decimals it is 110.2.
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 116, 100, 115, N),
        (115, 115.5, 110.2, 111, N),
        (111, 112, 111, 111, N),
    )
    [trade] = run(candles, dataclasses.replace(FLAT, trailing_stop_pct=5.0)).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (2, 110.2, "trailing_stop")


def test_a_short_trailing_stop_exactly_at_the_bar_high_is_hit_despite_float_rounding():
    # 100 * 1.1 is 110.00000000000001 in floating point; at the prices' 8 decimals it is 110.
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 100, 100.5, N),
        (101, 110, 100.5, 105, N),
        (105, 106, 104, 105, N),
    )
    config = dataclasses.replace(FLAT, trailing_stop_pct=10.0)
    [trade] = run(candles, config, entry=SHORT_ENTRY).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (2, 110.0, "trailing_stop")


def test_a_trailing_stop_equal_to_the_fixed_stop_is_named_stop_loss():
    # Both levels are 110 once rounded, so the trailing stop is not strictly tighter.
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 100, 100.5, N),
        (101, 110, 100.5, 105, N),
    )
    config = dataclasses.replace(FLAT, stop_loss_pct=10.0, trailing_stop_pct=10.0)
    [trade] = run(candles, config, entry=SHORT_ENTRY).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (2, 110.0, "stop_loss")


def test_max_drawdown_stops_new_entries_once_exceeded():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 100, 89, 90, N),  # stopped at 90: equity 9,000, a 10% drawdown
        (90, 91, 89, 90, E),
        (90, 91, 89, 90, N),
        (90, 91, 89, 90, N),
    )
    blocked = dataclasses.replace(FLAT, stop_loss_pct=10.0, max_drawdown_pct=5.0)
    assert len(run(candles, blocked).trades) == 1
    allowed = dataclasses.replace(FLAT, stop_loss_pct=10.0, max_drawdown_pct=15.0)
    assert [t.entry_bar for t in run(candles, allowed).trades] == [1, 3]


def test_max_drawdown_counts_an_open_position_marked_at_the_close():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 100, 90, 92, N),  # marked at 92: an 8% drawdown while open
        (92, 101, 92, 100, X),
        (100, 100, 100, 100, E),
        (100, 100, 100, 100, N),
    )
    config = dataclasses.replace(FLAT, max_drawdown_pct=5.0)
    [trade] = run(candles, config).trades
    assert trade.exit_bar == 3 and trade.net_pnl == 0.0


def test_position_open_at_the_end_is_closed_at_the_last_close():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99, 100, N),
        (101, 103, 100, 102.5, N),
    )
    config = dataclasses.replace(FLAT, slippage_pct=0.001)
    [trade] = run(candles, config).trades
    assert trade.exit_bar == 2 and trade.exit_signal == "end_of_data"
    assert trade.exit_price == pytest.approx(102.5 * 0.999)


def test_short_entries_sell_first_and_profit_when_the_price_falls():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99, 100, N),
        (95, 96, 90, 91, X),
        (90, 91, 89, 90, N),
    )
    config = dataclasses.replace(FLAT, slippage_pct=0.001, max_position_size_pct=50.0)
    [trade] = run(candles, config, entry=SHORT_ENTRY).trades
    assert trade.side == "SELL"
    assert trade.entry_price == pytest.approx(100 * 0.999)  # selling slips down
    assert trade.exit_price == pytest.approx(90 * 1.001)  # buying back slips up
    assert trade.gross_pnl == pytest.approx(trade.quantity * (100 * 0.999 - 90 * 1.001))
    assert trade.gross_pnl > 0


def test_short_stop_and_target_sit_above_and_below_the_entry():
    stopped = bars(
        (100, 100, 100, 100, E),
        (100, 103, 97, 101, N),  # both 102 (stop) and 96 (target) inside: the stop is taken
    )
    config = dataclasses.replace(FLAT, stop_loss_pct=2.0, take_profit_pct=4.0)
    [trade] = run(stopped, config, entry=SHORT_ENTRY).trades
    assert (trade.exit_price, trade.exit_signal) == (102.0, "stop_loss")
    target = bars(
        (100, 100, 100, 100, E),
        (100, 101, 95, 96, N),
    )
    [trade] = run(target, config, entry=SHORT_ENTRY).trades
    assert (trade.exit_price, trade.exit_signal) == (96.0, "take_profit")


def test_short_trailing_stop_follows_the_lowest_low():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 100.5, 90, 91, N),
        (91, 95, 91, 94, N),  # trail from low 90: 94.5; high 95 touches it
    )
    config = dataclasses.replace(FLAT, trailing_stop_pct=5.0)
    [trade] = run(candles, config, entry=SHORT_ENTRY).trades
    assert (trade.exit_bar, trade.exit_signal) == (2, "trailing_stop")
    assert trade.exit_price == pytest.approx(94.5)


def test_only_one_position_at_a_time():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 100, 100, 100, E),
        (100, 100, 100, 100, E),
        (100, 100, 100, 100, X),
        (100, 100, 100, 100, E),
        (100, 100, 100, 100, N),
    )
    result = run(candles)
    assert [(t.entry_bar, t.exit_bar) for t in result.trades] == [(1, 4), (5, 5)]
    assert result.trades[1].exit_signal == "end_of_data"


def test_a_pending_exit_fills_at_the_open_before_a_stop_in_that_bar():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 100, 99, 100, X),
        (99, 99.5, 97, 98, N),
    )
    [trade] = run(candles, dataclasses.replace(FLAT, stop_loss_pct=2.0)).trades
    assert (trade.exit_bar, trade.exit_price, trade.exit_signal) == (2, 99.0, "exit_rules")


def test_entry_signal_on_the_bar_of_a_stop_reenters_at_the_next_open():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 100, 97, 99, E),
        (99, 100, 99, 99.5, N),
    )
    trades = run(candles, dataclasses.replace(FLAT, stop_loss_pct=2.0)).trades
    assert [(t.entry_bar, t.exit_bar) for t in trades] == [(1, 1), (2, 2)]


def test_signal_on_the_last_bar_is_not_filled():
    candles = bars(
        (100, 100, 100, 100, N),
        (100, 100, 100, 100, E),
    )
    result = run(candles)
    assert result.trades == []
    assert result.metrics["total_trades"] == 0


def test_empty_candles_give_a_valid_empty_result():
    empty = Candles.from_arrays(np.array([], dtype=np.int64), [], [], [], [], [])
    result = run(empty)
    assert result.trades == [] and result.equity_curve == []
    assert result.metrics["final_capital"] == 10_000.0
    assert result.metrics["total_trades"] == 0
    assert result.metrics["sharpe_ratio"] is None and result.metrics["win_rate_pct"] is None
    json.dumps(result.to_dict())


def test_rules_that_never_fire_give_zero_trades_and_none_for_undefined_metrics():
    candles = bars(*[(100, 100, 100, 100, N)] * 30)
    result = run(candles)
    metrics = result.metrics
    assert result.trades == []
    assert metrics["final_capital"] == 10_000.0 and metrics["total_return_pct"] == 0.0
    for name in ("sharpe_ratio", "sortino_ratio", "calmar_ratio", "profit_factor", "avg_trade_pct"):
        assert metrics[name] is None
    assert metrics["max_drawdown_pct"] == 0.0 and metrics["total_trades"] == 0
    columns = result_columns(result)
    assert columns["final_capital"] == Decimal("10000.00")
    assert columns["sharpe_ratio"] is None and columns["total_trades"] == 0


def test_equity_is_marked_to_market_at_every_close():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 102, 99, 101, N),
        (101, 104, 100, 103, X),
        (104, 104, 104, 104, N),
        (104, 104, 104, 104, N),
    )
    config = dataclasses.replace(FLAT, commission_pct=0.001, max_position_size_pct=50.0)
    equity = equity_series(candles, entry_rules=ENTRY, exit_rules=EXIT, config=config)
    quantity = 5_000.0 / (100 * 1.001)
    entry_fee = quantity * 100 * 0.001
    after = 10_000 - entry_fee - quantity * 104 * 0.001 + quantity * 4
    np.testing.assert_allclose(
        equity,
        [
            10_000,
            10_000 - entry_fee + quantity * 1,
            10_000 - entry_fee + quantity * 3,
            after,
            after,
        ],
    )
    curve = run(candles, config).equity_curve
    assert [point["equity"] for point in curve] == pytest.approx(list(equity))
    assert curve[0]["time"] == "2024-01-01T00:00:00Z"


def test_market_conditions_describe_the_signal_bar():
    rows = [(100 + i, 101 + i, 99 + i, 100 + i, N) for i in range(25)]
    rows[21] = (121, 122, 120, 121, E)
    [trade] = run(bars(*rows)).trades
    conditions = trade.market_conditions
    assert conditions["signal_close"] == 121.0
    assert conditions["change_20_bars_pct"] == pytest.approx((121 / 101 - 1) * 100, abs=1e-6)
    assert conditions["volume_vs_20_bar_avg"] == pytest.approx(2 / (21 / 20), abs=1e-6)
    json.dumps(conditions)


def test_trade_columns_quantize_to_the_backtest_trades_scales():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 101, 99, 100, X),
        (103, 103, 103, 103, N),
    )
    config = dataclasses.replace(FLAT, max_position_size_pct=10.0, commission_pct=0.001)
    [trade] = run(candles, config).trades
    row = trade_columns(trade)
    assert row["quantity"] == Decimal(str(trade.quantity)).quantize(Decimal("1e-8"))
    assert row["entry_price"] == Decimal("100.00000000")
    assert row["pnl_pct"].as_tuple().exponent == -4
    assert row["side"] == "BUY" and row["is_open"] is False
    assert row["entry_date"].isoformat() == "2024-01-01T01:00:00+00:00"


def test_progress_and_cancellation_are_called_at_most_about_100_times():
    rng = np.random.default_rng(5)
    signals = rng.choice([N, E, X], size=20_000, p=[0.8, 0.1, 0.1])
    closes = 100 + np.cumsum(rng.normal(0, 0.1, 20_000))
    rows = [(c, c + 0.5, c - 0.5, c, s) for c, s in zip(closes, signals, strict=True)]
    candles = bars(*rows)
    calls = []
    checks = []
    result = run(candles, progress=calls.append, should_cancel=lambda: checks.append(1) or False)
    assert len(result.trades) > 500
    assert 2 <= len(calls) <= 102 and len(checks) <= 102
    assert calls == sorted(calls) and calls[-1] == 100
    seen = len(checks)
    with pytest.raises(BacktestCancelled):
        run(candles, should_cancel=lambda: len(checks) > seen + 30 or checks.append(1) or False)


def test_progress_moves_through_indicators_simulation_and_results():
    rng = np.random.default_rng(6)
    closes = 100 + np.cumsum(rng.normal(0, 0.5, 5_000))
    candles = bars(*[(c, c + 0.5, c - 0.5, c, N) for c in closes])
    sma_cross = {
        "left": {"indicator": "sma", "period": 5},
        "op": "crosses_above",
        "right": {"indicator": "ema", "period": 30},
    }
    calls = []

    run(candles, entry=sma_cross, exit_rules={"left": {"indicator": "rsi", "period": 14}, "op": ">",
        "right": 70}, progress=calls.append)  # fmt: skip

    # Three distinct indicators: 0, 10, 20 before each, 30 when done; then the bars; then 90, 100.
    assert calls[:4] == [0, 10, 20, 30]
    assert any(30 < pct < 90 for pct in calls)
    assert calls[-2:] == [90, 100] and calls == sorted(calls)


def test_cancel_is_checked_inside_the_indicator_phase():
    candles = bars(*[(100.0 + i % 7, 101.0 + i % 7, 99.0 + i % 7, 100.0 + i % 7, N)
                     for i in range(2_000)])  # fmt: skip
    two_indicators = {
        "left": {"indicator": "sma", "period": 5},
        "op": ">",
        "right": {"indicator": "wma", "period": 30},
    }
    asked = []
    calls = []

    with pytest.raises(BacktestCancelled):
        run(candles, entry=two_indicators, progress=calls.append,
            should_cancel=lambda: asked.append(1) or len(asked) >= 3)  # fmt: skip

    assert max(calls) < 30  # stopped before the simulation started


def test_invalid_rules_are_rejected_before_running():
    with pytest.raises(RuleValidationError):
        run(bars((1, 1, 1, 1, N)), entry={"left": 1, "op": ">", "right": 2})


def test_config_from_a_strategy_snapshot_parses_strings_and_defaults_the_position_size():
    snapshot = {
        "asset_symbol": "ETH/USDT",
        "timeframe": "1h",
        "entry_rules": ENTRY,
        "exit_rules": EXIT,
        "stop_loss_pct": "2.00",
        "take_profit_pct": Decimal("4.50"),
        "trailing_stop_pct": None,
        "max_position_size_pct": None,
        "max_drawdown_pct": 20,
    }
    config = BacktestConfig.from_strategy_snapshot(
        snapshot,
        initial_capital=Decimal("5000.00"),
        commission_pct="0.0010",
        slippage_pct=Decimal("0.0005"),
    )
    assert config == BacktestConfig(
        symbol="ETH/USDT",
        timeframe="1h",
        initial_capital=5_000.0,
        commission_pct=0.001,
        slippage_pct=0.0005,
        stop_loss_pct=2.0,
        take_profit_pct=4.5,
        trailing_stop_pct=None,
        max_position_size_pct=10.0,
        max_drawdown_pct=20.0,
    )


def test_config_rejects_values_outside_the_columns_ranges():
    with pytest.raises(ValueError, match="max_position_size_pct"):
        BacktestConfig(max_position_size_pct=0)
    with pytest.raises(ValueError, match="commission_pct"):
        BacktestConfig(commission_pct=1.5)


# --- no look-ahead -------------------------------------------------------------------------

PROPERTY_ENTRY = {
    "any": [
        {"left": "close", "op": "crosses_above", "right": {"indicator": "sma", "period": 3}},
        {"left": {"indicator": "rsi", "period": 4}, "op": "<", "right": 30},
    ]
}
PROPERTY_EXIT = {
    "left": {"field": "close", "offset": 1},
    "op": ">",
    "right": {"indicator": "bbands", "period": 4, "stddev": 1, "output": "upper"},
}


@st.composite
def candle_series(draw, min_size=8, max_size=60):
    n = draw(st.integers(min_size, max_size))
    moves = draw(st.lists(st.floats(-0.05, 0.05), min_size=n, max_size=n))
    wicks = draw(st.lists(st.floats(0.0, 0.03), min_size=2 * n, max_size=2 * n))
    gaps = draw(st.lists(st.floats(-0.02, 0.02), min_size=n, max_size=n))
    close = 100 * np.exp(np.cumsum(moves))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(gaps)
    high = np.maximum(open_, close) * (1 + np.array(wicks[:n]))
    low = np.minimum(open_, close) * (1 - np.array(wicks[n:]))
    return open_, high, low, close


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    candle_series(),
    candle_series(),
    st.integers(0, 59),
    st.sampled_from(["long", "short"]),
    st.booleans(),
)
def test_changing_candles_after_a_bar_never_changes_signals_or_fills_up_to_it(
    original, replacement, cut, direction, with_trailing
):
    n = len(original[0])
    cut = min(cut, n - 2)
    # bars after `cut` come from another random series, rescaled to continue from the cut
    tail = [np.resize(column, n) for column in replacement]
    scale = original[3][cut] / tail[0][0]
    changed = [
        np.concatenate((column[: cut + 1], other[cut + 1 :] * scale))
        for column, other in zip(original, tail, strict=True)
    ]
    time_ns = START + np.arange(n) * HOUR
    first = Candles.from_arrays(time_ns, *original, np.ones(n))
    second = Candles.from_arrays(time_ns, *changed, np.ones(n))
    entry = {**PROPERTY_ENTRY, "direction": direction}
    config = BacktestConfig(
        commission_pct=0.001,
        slippage_pct=0.0005,
        stop_loss_pct=3.0,
        take_profit_pct=5.0,
        trailing_stop_pct=2.0 if with_trailing else None,
        max_position_size_pct=50.0,
        max_drawdown_pct=8.0,
    )
    a = run_backtest(first, entry_rules=entry, exit_rules=PROPERTY_EXIT, config=config)
    b = run_backtest(second, entry_rules=entry, exit_rules=PROPERTY_EXIT, config=config)

    def entries(result):
        return [
            (t.entry_bar, t.entry_price, t.quantity) for t in result.trades if t.entry_bar <= cut
        ]

    def exits(result):
        return [
            (t.exit_bar, t.exit_price, t.exit_signal)
            for t in result.trades
            if t.exit_bar <= cut and t.exit_signal != "end_of_data"
        ]

    for rules in (entry, PROPERTY_EXIT):
        np.testing.assert_array_equal(
            evaluate_rules(rules, first)[: cut + 1], evaluate_rules(rules, second)[: cut + 1]
        )
    assert entries(a) == entries(b)
    assert exits(a) == exits(b)
    equity_a = equity_series(first, entry_rules=entry, exit_rules=PROPERTY_EXIT, config=config)
    equity_b = equity_series(second, entry_rules=entry, exit_rules=PROPERTY_EXIT, config=config)
    np.testing.assert_array_equal(equity_a[: cut + 1], equity_b[: cut + 1])


def test_trading_stops_when_a_short_loses_the_whole_account():
    candles = bars(
        (100, 100, 100, 100, E),
        (100, 300, 100, 300, X),  # a short of the whole account loses 200%
        (300, 300, 300, 300, E),
        (300, 300, 300, 300, N),
        (300, 300, 300, 300, N),
    )
    result = run(candles, entry=SHORT_ENTRY)
    assert len(result.trades) == 1
    assert result.metrics["final_capital"] == pytest.approx(-10_000.0)
    assert result.metrics["annualized_return_pct"] == -100.0
    json.dumps(result.to_dict(), allow_nan=False)


def test_candles_reject_bad_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        Candles.from_arrays([2, 1], [1, 1], [1, 1], [1, 1], [1, 1])
    with pytest.raises(ValueError, match="prices"):
        Candles.from_arrays([1, 2], [1, 0], [1, 1], [1, 1], [1, 1])
    with pytest.raises(ValueError, match="volume"):
        Candles.from_arrays([1, 2], [1, 1], [1, 1], [1, 1], [1, 1], [1, float("nan")])
    with pytest.raises(ValueError, match="length"):
        Candles.from_arrays([1, 2], [1, 1], [1, 1], [1, 1], [1])


def test_candle_times_accept_datetime64_and_aware_datetimes():
    from datetime import UTC, datetime

    moments = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 1, tzinfo=UTC)]
    from_datetimes = Candles.from_arrays(moments, [1, 1], [1, 1], [1, 1], [1, 1])
    from_numpy = Candles.from_arrays(
        np.array(["2024-01-01T00:00", "2024-01-01T01:00"], dtype="datetime64[m]"),
        [1, 1],
        [1, 1],
        [1, 1],
        [1, 1],
    )
    assert from_datetimes.time.tolist() == from_numpy.time.tolist() == [START, START + HOUR]


def test_a_float_price_level_is_rounded_exactly_as_numpy_rounds_it():
    from strategies.engine.exits import price_level as _price_level

    rng = np.random.default_rng(11)
    levels = np.concatenate(
        [
            rng.uniform(0, 1, 20_000),
            rng.uniform(1, 100_000, 20_000),
            np.round(rng.uniform(1, 1000, 20_000), 8) + 5e-9,  # near ties
            10.0 ** rng.uniform(-8, 9, 20_000),
        ]
    )
    assert [_price_level(float(x)) for x in levels] == np.round(levels, 8).tolist()


# --- against a bar-by-bar reading of the rules ----------------------------------------------

# Volume 2: entry signal, 3: exit signal, 4: both on the same bar.
BOTH_ENTRY = {"any": [ENTRY, {"left": "volume", "op": ">", "right": 3.5}]}


def bar_by_bar(candles, entry_signal, exit_signal, side, config):
    """docs/execution-semantics.md read literally, one bar at a time: (entry bar, exit bar,
    reason, exit reference price) of each trade, and the equity after each."""
    o, h, lo, c = candles.open, candles.high, candles.low, candles.close
    n = len(c)
    slip, fee = config.slippage_pct, config.commission_pct
    percentages = (config.stop_loss_pct, config.take_profit_pct, config.trailing_stop_pct)
    sl, tp, trail = (None if p is None else p / 100 for p in percentages)
    equity = peak = config.initial_capital
    trades, equities = [], []
    position = None
    enter_at = exit_at = None
    halted = False

    def level(price):
        return float(np.round(price, 8))

    for t in range(n):
        if position is None and enter_at == t:
            fill = o[t] * (1 + side * slip)
            position = {
                "bar": t,
                "fill": fill,
                "quantity": equity * config.max_position_size_pct / 100 / (fill * (1 + fee)),
                "stop": -side * np.inf if sl is None else level(fill * (1 - side * sl)),
                "target": side * np.inf if tp is None else level(fill * (1 + side * tp)),
                "best": fill,
            }
        exit_price = reason = None
        if position is not None and exit_at == t:
            exit_price, reason = o[t], "exit_rules"
        elif position is not None:
            stop, stop_reason = position["stop"], "stop_loss"
            if trail is not None:
                trailing = level(position["best"] * (1 - side * trail))
                if side * (trailing - stop) > 0:
                    stop, stop_reason = trailing, "trailing_stop"
            adverse, favourable = (lo[t], h[t]) if side > 0 else (h[t], lo[t])
            if side * (o[t] - stop) <= 0:
                exit_price, reason = o[t], stop_reason
            elif side * (o[t] - position["target"]) >= 0:
                exit_price, reason = o[t], "take_profit"
            elif side * (adverse - stop) <= 0:
                exit_price, reason = stop, stop_reason
            elif side * (favourable - position["target"]) >= 0:
                exit_price, reason = position["target"], "take_profit"
            elif side > 0:
                position["best"] = max(position["best"], h[t])
            else:
                position["best"] = min(position["best"], lo[t])
        if position is not None and exit_price is None and t == n - 1:
            exit_price, reason = c[t], "end_of_data"
        if exit_price is not None:
            q, fill = position["quantity"], position["fill"]
            exit_fill = exit_price * (1 - side * slip)
            marks = [
                equity - q * fill * fee + side * q * (c[b] - fill)
                for b in range(position["bar"], t)
            ]
            equity = equity - q * fill * fee - q * exit_fill * fee + side * q * (exit_fill - fill)
            for mark in [*marks, equity]:
                peak = max(peak, mark)
                if config.max_drawdown_pct is not None and mark < peak * (
                    1 - config.max_drawdown_pct / 100
                ):
                    halted = True
            halted = halted or equity <= 0
            trades.append((position["bar"], t, reason, exit_price))
            equities.append(equity)
            position = None
            exit_at = None
        if t < n - 1 and position is not None and exit_signal[t]:
            exit_at = t + 1
        if t < n - 1 and position is None and not halted and entry_signal[t]:
            enter_at = t + 1
    return trades, equities


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("direction", "stop", "target", "trailing", "drawdown"),
    [
        ("long", 1.0, 2.0, None, None),
        ("short", 1.0, 2.0, None, None),
        ("long", 1.5, None, 0.8, None),
        ("short", None, 3.0, 0.8, None),
        ("long", 0.5, 0.5, None, 12.0),
        ("short", 2.0, 1.0, 1.5, 12.0),
        ("long", None, None, None, None),
    ],
)
def test_trades_match_a_bar_by_bar_reading_of_the_rules(
    seed, direction, stop, target, trailing, drawdown
):
    # Long stretches without exit signals hold many stop/target trades each, so both the bulk
    # exit search and the one-by-one search of the walk are used.
    rng = np.random.default_rng(seed)
    n = 4_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, n)))
    exit_rate = rng.choice([0.002, 0.01, 0.05])
    codes = rng.choice(
        [N, E, X, 4.0], size=n, p=[0.9 - exit_rate, 0.1, exit_rate / 2, exit_rate / 2]
    )
    candles = Candles.from_arrays(START + np.arange(n) * HOUR, open_, high, low, close, codes)
    config = BacktestConfig(
        initial_capital=10_000.0,
        commission_pct=0.001,
        slippage_pct=0.0005,
        stop_loss_pct=stop,
        take_profit_pct=target,
        trailing_stop_pct=trailing,
        max_position_size_pct=100.0 if drawdown else 20.0,
        max_drawdown_pct=drawdown,
    )
    entry = {**BOTH_ENTRY, "direction": direction}
    side = 1 if direction == "long" else -1

    result = run(candles, config, entry=entry)

    expected, equities = bar_by_bar(
        candles, np.isin(codes, (E, 4.0)), np.isin(codes, (X, 4.0)), side, config
    )
    assert len(expected) >= 3
    slip = 1 - side * config.slippage_pct
    assert [(t.entry_bar, t.exit_bar, t.exit_signal) for t in result.trades] == [
        trade[:3] for trade in expected
    ]
    np.testing.assert_allclose(
        [t.exit_price for t in result.trades], [trade[3] * slip for trade in expected], rtol=1e-12
    )
    np.testing.assert_allclose(
        equity_series(candles, entry_rules=entry, exit_rules=EXIT, config=config)[
            [t.exit_bar for t in result.trades]
        ],
        equities,
        rtol=1e-12,
    )
