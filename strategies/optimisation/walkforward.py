"""Walk-forward analysis: fold arithmetic over a candle window, stitching the out-of-sample
equity, and how stable the chosen parameters are across folds.

Folds are cut by bar index. With N bars, K folds and an in-sample ratio R (in-sample bars per
out-of-sample bar), an out-of-sample block has L = N // (K + R) bars and the remainder r0 = N -
(K + R)·L bars are left out at the start, so the last fold ends on the last bar. Fold k (1..K):

    out of sample  [r0 + (R + k - 1)·L, r0 + (R + k)·L)
    in sample      rolling:  [r0 + (k - 1)·L, r0 + (R + k - 1)·L)    (R·L bars, moving)
                   anchored: [0,              r0 + (R + k - 1)·L)    (growing from the start)

Each out-of-sample run starts flat with the initial capital on its own bars (its indicators warm
up inside the block, never from in-sample bars), so nothing seen in sample leaks into its score.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ROLLING = "rolling"
ANCHORED = "anchored"
MODES = (ROLLING, ANCHORED)
MIN_FOLDS, MAX_FOLDS = 2, 20
MIN_RATIO, MAX_RATIO = 1, 10


@dataclass(frozen=True)
class Fold:
    number: int  # 1..K
    in_sample: tuple[int, int]  # [start, stop) bar indices
    out_of_sample: tuple[int, int]


def fold_windows(bars: int, *, folds: int, mode: str, in_sample_ratio: int) -> list[Fold]:
    """The K folds over `bars` bars (see the module docstring). Raises ValueError when the
    window is too short for K folds of at least one bar each."""
    if mode not in MODES:
        raise ValueError(f"walk_forward_mode: must be one of {', '.join(MODES)}")
    if not MIN_FOLDS <= folds <= MAX_FOLDS:
        raise ValueError(f"walk_forward_folds: must be between {MIN_FOLDS} and {MAX_FOLDS}")
    if not MIN_RATIO <= in_sample_ratio <= MAX_RATIO:
        raise ValueError(f"in_sample_ratio: must be between {MIN_RATIO} and {MAX_RATIO}")
    block = bars // (folds + in_sample_ratio)
    if block < 1:
        raise ValueError(
            f"the window has {bars} bars: too few for {folds} folds with an in-sample ratio of "
            f"{in_sample_ratio} (at least {folds + in_sample_ratio} bars)"
        )
    offset = bars - (folds + in_sample_ratio) * block
    out = []
    for k in range(1, folds + 1):
        oos_start = offset + (in_sample_ratio + k - 1) * block
        is_start = offset + (k - 1) * block if mode == ROLLING else 0
        out.append(
            Fold(
                number=k,
                in_sample=(is_start, oos_start),
                out_of_sample=(oos_start, oos_start + block),
            )
        )
    return out


def stitch_equity(segments: Sequence[Sequence[float]], initial_capital: float) -> list[float]:
    """One equity curve from the out-of-sample runs in order: each run started from
    `initial_capital`, so run k is scaled to start where run k-1 ended (compounding, as if the
    money had been carried over)."""
    stitched: list[float] = []
    level = initial_capital
    for segment in segments:
        if not segment:
            continue
        scale = level / initial_capital
        scaled = [value * scale for value in segment]
        stitched.extend(scaled)
        level = scaled[-1]
    return stitched


def stitch_points(
    runs: Sequence[Sequence[Mapping[str, Any]]], initial_capital: float
) -> list[dict[str, Any]]:
    """stitch_equity over stored equity curves ([{"time", "equity"}, ...] per fold)."""
    values = stitch_equity([[float(p["equity"]) for p in run] for run in runs], initial_capital)
    times = [p["time"] for run in runs for p in run]
    return [{"time": t, "equity": round(v, 2)} for t, v in zip(times, values, strict=True)]


def parameter_stability(chosen: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per parameter, the values the folds chose and how much they move: mean, population
    standard deviation, coefficient of variation (std / |mean|; None at mean 0) and the number of
    distinct values. A parameter that jumps around from fold to fold is fitted noise."""
    paths = list(dict.fromkeys(path for row in chosen for path in row))
    report = {}
    for path in paths:
        values = [row.get(path) for row in chosen]
        numbers = [float(v) for v in values if v is not None]
        mean = statistics.fmean(numbers) if numbers else None
        std = statistics.pstdev(numbers) if len(numbers) > 1 else (0.0 if numbers else None)
        cv = None
        if mean is not None and std is not None and not math.isclose(mean, 0.0, abs_tol=1e-12):
            cv = std / abs(mean)
        report[path] = {
            "values": values,
            "mean": mean,
            "std": std,
            "coefficient_of_variation": cv,
            "distinct": len(set(values)),
        }
    return report


def efficiency(
    in_sample: Sequence[float | None], out_of_sample: Sequence[float | None]
) -> float | None:
    """Walk-forward efficiency: mean out-of-sample objective / mean in-sample objective over the
    folds where both are defined; None when there are none or the in-sample mean is 0."""
    pairs = [
        (i, o)
        for i, o in zip(in_sample, out_of_sample, strict=True)
        if i is not None and o is not None
    ]
    if not pairs:
        return None
    mean_in = statistics.fmean(float(i) for i, _ in pairs)
    mean_out = statistics.fmean(float(o) for _, o in pairs)
    return None if mean_in == 0 else mean_out / mean_in
