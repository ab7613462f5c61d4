"""Indicators against published reference values and hand computations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.rules import indicators

# StockCharts "RSI" worked example (Wilder smoothing), closes and published RSI(14) values.
RSI_CLOSES = [
    44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826,
    45.8931, 46.0328, 45.6140, 46.2820, 46.2820, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439,
    46.2122, 46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288, 44.1783, 44.2181, 44.5672,
    43.4205, 42.6628, 43.1314,
]  # fmt: skip
RSI_PUBLISHED = [
    70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99,
    41.46, 41.87, 45.46, 37.30, 33.08, 37.77,
]  # fmt: skip

# StockCharts "Moving Averages" worked example: 10-day EMA seeded with the 10-day SMA.
EMA_CLOSES = [
    22.27, 22.19, 22.08, 22.17, 22.18, 22.13, 22.23, 22.43, 22.24, 22.29, 22.15, 22.39, 22.38,
    22.61, 23.36, 24.05, 23.75, 23.83, 23.95, 23.63, 23.82, 23.87, 23.65, 23.19, 23.10, 23.33,
    22.68, 23.10, 22.40, 22.17,
]  # fmt: skip
EMA10_PUBLISHED = [
    22.22, 22.21, 22.24, 22.27, 22.33, 22.52, 22.80, 22.97, 23.13, 23.28, 23.34, 23.43, 23.51,
    23.54, 23.47, 23.40, 23.39, 23.26, 23.23, 23.08, 22.92,
]  # fmt: skip


def test_rsi_matches_the_published_wilder_example():
    values = indicators.rsi(np.array(RSI_CLOSES), 14)
    assert np.all(np.isnan(values[:14]))
    np.testing.assert_allclose(values[14:], RSI_PUBLISHED, atol=0.005)


def test_rsi_is_100_without_losses_and_50_on_a_flat_series():
    assert indicators.rsi(np.arange(1.0, 20.0), 14)[-1] == 100.0
    assert indicators.rsi(np.full(20, 5.0), 14)[-1] == 50.0


def test_ema_is_seeded_with_the_sma_and_matches_the_published_example():
    values = indicators.ema(np.array(EMA_CLOSES), 10)
    assert np.all(np.isnan(values[:9]))
    assert values[9] == pytest.approx(np.mean(EMA_CLOSES[:10]))
    # the worksheet shows cents and carries rounded values forward: agree within a cent
    np.testing.assert_allclose(values[9:], EMA10_PUBLISHED, atol=0.01)


def test_ema_recursion_by_hand():
    # period 3: alpha 0.5, seed = mean(1, 2, 3) = 2; then 0.5*4 + 0.5*2 = 3; 0.5*8 + 0.5*3 = 5.5
    values = indicators.ema(np.array([1.0, 2.0, 3.0, 4.0, 8.0]), 3)
    np.testing.assert_allclose(values[2:], [2.0, 3.0, 5.5])


def test_sma_and_wma_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(indicators.sma(x, 3)[2:], [2.0, 3.0, 4.0])
    # WMA(3) of 1,2,3 = (1*1 + 2*2 + 3*3) / 6 = 14/6
    np.testing.assert_allclose(indicators.wma(x, 3)[2:], [14 / 6, 20 / 6, 26 / 6])
    assert np.isnan(indicators.sma(x, 3)[1]) and np.isnan(indicators.wma(x, 3)[1])


def test_sma_of_a_long_window_uses_the_cumulative_path_and_agrees():
    x = np.linspace(100.0, 200.0, 1000)
    window = 300
    expected = np.array([x[i - window + 1 : i + 1].mean() for i in range(window - 1, 1000)])
    np.testing.assert_allclose(indicators.sma(x, window)[window - 1 :], expected, rtol=1e-12)


def direct_wma(x, period):
    """The definition, one window at a time."""
    weights = np.arange(1, period + 1, dtype=np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(x, period)
    return windows @ weights / weights.sum()


def random_walk_prices(n, seed):
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, size=n)))


@pytest.mark.parametrize(
    ("n", "period"),
    [(5_000, 257), (5_000, 1_000), (5_003, 1_667), (20_000, 10_000), (3_000, 3_000), (701, 700)],
)
def test_wma_of_long_windows_uses_the_blocked_path_and_agrees_with_the_definition(n, period):
    x = random_walk_prices(n, seed=period)

    got = indicators.wma(x, period)

    assert np.isnan(got[: period - 1]).all()
    np.testing.assert_allclose(got[period - 1 :], direct_wma(x, period), rtol=1e-9)


def test_wma_of_long_windows_keeps_its_precision_far_from_the_first_price():
    # A price that moves from 50,000 to 0.5: the block centring keeps the error relative.
    x = np.geomspace(50_000.0, 0.5, 30_000) * (1.0 + 0.01 * np.sin(np.arange(30_000)))
    np.testing.assert_allclose(indicators.wma(x, 500)[499:], direct_wma(x, 500), rtol=1e-9)


@pytest.mark.parametrize("period", [1, 2, 3, 14, 100, 999, 1_000])
def test_rolling_extremes_equal_the_window_max_and_min(period):
    x = random_walk_prices(1_000, seed=period)
    windows = np.lib.stride_tricks.sliding_window_view(x, period)

    highest = indicators._rolling_extreme(x, period, np.maximum)
    lowest = indicators._rolling_extreme(x, period, np.minimum)

    assert np.isnan(highest[: period - 1]).all() and np.isnan(lowest[: period - 1]).all()
    assert np.array_equal(highest[period - 1 :], windows.max(axis=1))
    assert np.array_equal(lowest[period - 1 :], windows.min(axis=1))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.01, 1e6), min_size=1, max_size=200),
    st.integers(1, 60),
    st.integers(1, 5),
)
def test_stochastic_equals_its_definition_over_windows(closes, k_period, d_period):
    close = np.array(closes)
    high, low = close * 1.01, close * 0.99
    k, d = indicators.stochastic(high, low, close, k_period=k_period, d_period=d_period)

    if close.shape[0] < k_period:
        assert np.isnan(k).all() and np.isnan(d).all()
        return
    windows = np.lib.stride_tricks.sliding_window_view
    highest = windows(high, k_period).max(axis=1)
    lowest = windows(low, k_period).min(axis=1)
    span = highest - lowest
    expected = np.where(span == 0, 50.0, 100.0 * (close[k_period - 1 :] - lowest) / span)
    np.testing.assert_allclose(k[k_period - 1 :], expected, rtol=1e-12)
    assert np.isnan(k[: k_period - 1]).all()


def test_series_shorter_than_the_period_is_all_nan():
    x = np.array([1.0, 2.0])
    for values in (indicators.sma(x, 3), indicators.ema(x, 3), indicators.rsi(x, 3)):
        assert np.all(np.isnan(values))


def test_macd_is_fast_ema_minus_slow_ema_with_an_ema_signal():
    x = np.array([1.0, 2.0, 4.0, 3.0, 5.0, 6.0, 4.0, 7.0])
    line, signal, histogram = indicators.macd(x, fast=2, slow=3, signal=2)
    expected_line = indicators.ema(x, 2) - indicators.ema(x, 3)
    np.testing.assert_allclose(line, expected_line, equal_nan=True)
    # slow EMA starts at index 2, so the line does; its EMA(2) is seeded at index 3
    assert np.isnan(signal[2]) and signal[3] == pytest.approx((line[2] + line[3]) / 2)
    assert signal[4] == pytest.approx(line[4] * 2 / 3 + signal[3] / 3)
    np.testing.assert_allclose(histogram, line - signal, equal_nan=True)


def test_bollinger_bands_use_the_population_standard_deviation():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    upper, middle, lower = indicators.bbands(x, period=4, stddev=2.0)
    std = np.sqrt(((x - 2.5) ** 2).mean())  # sqrt(1.25)
    assert middle[3] == pytest.approx(2.5)
    assert upper[3] == pytest.approx(2.5 + 2 * std)
    assert lower[3] == pytest.approx(2.5 - 2 * std)
    assert np.isnan(upper[2])


def sliding_std(x, period, chunk=20_000):
    """The definition (population std), one window at a time, in chunks to bound the memory."""
    windows = np.lib.stride_tricks.sliding_window_view(x, period)
    return np.concatenate(
        [windows[i : i + chunk].std(axis=1) for i in range(0, windows.shape[0], chunk)]
    )


def walk_from_100_to_60000(n, seed):
    """A random walk (1% a bar in log terms) tied to 100 on the first bar, 60,000 on the last."""
    rng = np.random.default_rng(seed)
    log_price = np.cumsum(rng.normal(0.0, 0.01, n))
    log_price -= log_price[0]
    log_price += np.linspace(0.0, 1.0, n) * (np.log(600.0) - log_price[-1])
    return 100.0 * np.exp(log_price)


@pytest.mark.parametrize("period", [20, 300])
def test_rolling_std_of_a_quiet_price_far_from_the_first_one_is_not_lost_to_cancellation(period):
    # A fast move from 100 to 60,000, then a flat price with noise 0.01: E[y²] − E[y]² with y
    # centred on the first price would cancel every digit of the 0.01 (the std came out 0.0).
    rng = np.random.default_rng(period)
    x = np.concatenate(
        [np.linspace(100.0, 60_000.0, 2_000), 60_000.0 + rng.normal(0.0, 0.01, 5_000)]
    )

    got = indicators.rolling_std(x, period)

    assert np.isnan(got[: period - 1]).all()
    np.testing.assert_allclose(got[period - 1 :], sliding_std(x, period), rtol=1e-6)
    assert np.median(got[-4_000:]) == pytest.approx(0.01, rel=0.1)


@pytest.mark.parametrize("period", [2, 20, 257, 1_000])
def test_rolling_std_of_a_long_random_walk_agrees_with_the_definition(period):
    x = walk_from_100_to_60000(200_000, seed=period)

    got = indicators.rolling_std(x, period)

    assert np.isnan(got[: period - 1]).all()
    np.testing.assert_allclose(got[period - 1 :], sliding_std(x, period), rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.01, 1e6), min_size=1, max_size=300),
    st.integers(1, 120),
)
def test_rolling_std_equals_the_population_std_of_each_window(values, period):
    x = np.array(values)

    got = indicators.rolling_std(x, period)

    assert got.shape == x.shape
    if x.shape[0] < period:
        assert np.isnan(got).all()
        return
    assert np.isnan(got[: period - 1]).all()
    # a window of equal values has std 0, which the reference itself misses by a few ulps
    np.testing.assert_allclose(
        got[period - 1 :], sliding_std(x, period), rtol=1e-9, atol=1e-12 * x.max()
    )


def test_atr_by_hand_with_wilder_smoothing():
    high = np.array([10.0, 11.0, 12.0, 11.5, 13.0])
    low = np.array([9.0, 10.0, 10.5, 10.0, 11.0])
    close = np.array([9.5, 10.5, 11.0, 10.5, 12.5])
    # true ranges from bar 1: max(11,9.5)-min(10,9.5)=1.5; 12-10.5=1.5; 11.5-10=1.5; 13-10.5=2.5
    values = indicators.atr(high, low, close, period=2)
    assert np.all(np.isnan(values[:2]))
    assert values[2] == pytest.approx(1.5)  # mean of the first two true ranges
    assert values[3] == pytest.approx((1.5 * 1 + 1.5) / 2)
    assert values[4] == pytest.approx((1.5 * 1 + 2.5) / 2)


def test_stochastic_k_and_d_by_hand():
    high = np.array([10.0, 12.0, 11.0, 13.0])
    low = np.array([8.0, 9.0, 9.5, 10.0])
    close = np.array([9.0, 11.0, 10.0, 12.0])
    k, d = indicators.stochastic(high, low, close, k_period=2, d_period=2)
    # bar 1: range 8..12, (11-8)/4 = 75; bar 2: 9..12, (10-9)/3; bar 3: 9.5..13, (12-9.5)/3.5
    np.testing.assert_allclose(k[1:], [75.0, 100 / 3, 250 / 3.5])
    np.testing.assert_allclose(d[2:], [(75.0 + 100 / 3) / 2, (100 / 3 + 250 / 3.5) / 2])
    assert np.isnan(k[0]) and np.isnan(d[1])


def test_stochastic_of_a_flat_window_is_50():
    flat = np.full(5, 3.0)
    k, _d = indicators.stochastic(flat, flat, flat, k_period=3, d_period=2)
    assert k[-1] == 50.0


def test_roc_obv_by_hand():
    close = np.array([10.0, 11.0, 10.5, 10.5, 12.0])
    volume = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
    np.testing.assert_allclose(indicators.roc(close, 2)[2:], [5.0, -100 / 22, 150 / 10.5])
    np.testing.assert_allclose(indicators.obv(close, volume), [0, 200, -100, -100, 400])


def test_vwap_restarts_each_utc_day():
    hour = 3_600_000_000_000
    day = 24 * hour
    time_ns = np.array([0, hour, day, day + hour])
    high = np.array([11.0, 13.0, 21.0, 23.0])
    low = np.array([9.0, 11.0, 19.0, 21.0])
    close = np.array([10.0, 12.0, 20.0, 22.0])  # typical prices 10, 12, 20, 22
    volume = np.array([1.0, 3.0, 2.0, 2.0])
    values = indicators.vwap(time_ns, high, low, close, volume)
    np.testing.assert_allclose(values, [10.0, (10 + 36) / 4, 20.0, 21.0])


def test_vwap_is_undefined_until_the_session_has_volume():
    values = indicators.vwap(
        np.array([0, 1]), np.ones(2) * 2, np.ones(2), np.ones(2) * 1.5, np.array([0.0, 1.0])
    )
    assert np.isnan(values[0]) and values[1] == pytest.approx(1.5)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=400),
    st.floats(0.0, 0.999),
    st.floats(-1e3, 1e3),
)
def test_blocked_linear_recurrence_equals_the_plain_loop(increments, decay, initial):
    expected = []
    y = initial
    for b in increments:
        y = decay * y + b
        expected.append(y)
    got = indicators.linear_recurrence(np.array(increments), decay, initial)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
