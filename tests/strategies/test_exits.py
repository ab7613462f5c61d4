"""The bulk exit search finds the same bar and trailing level as the one-by-one search."""

import numpy as np
import pytest

from strategies.engine.exits import first_exit_bar, first_exit_bars, price_level


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize("trail", [None, 0.004])
def test_the_bulk_search_agrees_with_the_one_by_one_search(side, trail):
    rng = np.random.default_rng(3)
    n = 3_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    high = close * (1 + np.abs(rng.normal(0, 0.002, n)))
    low = close * (1 - np.abs(rng.normal(0, 0.002, n)))
    # Overlapping spans of all lengths, some to the last bar, some a single bar.
    starts = np.sort(rng.integers(0, n, 400))
    ends = np.minimum(starts + rng.choice([1, 5, 40, 400, n], 400), n)
    fills = close[starts] * (1 + rng.normal(0, 0.001, 400))
    stops = price_level(fills * (1 - side * rng.choice([0.0, 0.005, 0.02], 400)))
    targets = price_level(fills * (1 + side * rng.choice([0.003, 0.01, np.inf], 400)))

    bars, trails = first_exit_bars(high, low, starts, ends, side, stops, targets, trail, fills)

    expected = [
        first_exit_bar(high, low, int(s), int(e), side, float(stop), float(target), trail, float(f))
        for s, e, stop, target, f in zip(starts, ends, stops, targets, fills, strict=True)
    ]
    assert bars.tolist() == [bar for bar, _ in expected]
    np.testing.assert_array_equal(trails, [level for _, level in expected])
    assert 50 < np.sum(bars >= 0) < 350  # both outcomes are exercised
