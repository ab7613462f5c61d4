import itertools

import pytest

from strategies.optimisation.walkforward import (
    Fold,
    efficiency,
    fold_windows,
    parameter_stability,
    stitch_equity,
    stitch_points,
)


def test_rolling_folds_by_hand():
    # 23 bars, 3 folds, ratio 2: block = 23 // 5 = 4, 3 bars left out at the start.
    assert fold_windows(23, folds=3, mode="rolling", in_sample_ratio=2) == [
        Fold(1, in_sample=(3, 11), out_of_sample=(11, 15)),
        Fold(2, in_sample=(7, 15), out_of_sample=(15, 19)),
        Fold(3, in_sample=(11, 19), out_of_sample=(19, 23)),
    ]


def test_anchored_folds_grow_from_the_first_bar():
    assert fold_windows(23, folds=3, mode="anchored", in_sample_ratio=2) == [
        Fold(1, in_sample=(0, 11), out_of_sample=(11, 15)),
        Fold(2, in_sample=(0, 15), out_of_sample=(15, 19)),
        Fold(3, in_sample=(0, 19), out_of_sample=(19, 23)),
    ]


@pytest.mark.parametrize("mode", ["rolling", "anchored"])
@pytest.mark.parametrize("bars", [5, 6, 97, 1000])
def test_out_of_sample_blocks_tile_the_end_and_never_overlap_their_in_sample(mode, bars):
    folds = fold_windows(bars, folds=4, mode=mode, in_sample_ratio=1)
    assert folds[-1].out_of_sample[1] == bars
    for before, after in itertools.pairwise(folds):
        assert before.out_of_sample[1] == after.out_of_sample[0]
    for fold in folds:
        assert fold.in_sample[1] == fold.out_of_sample[0]
        assert fold.in_sample[0] < fold.in_sample[1]


def test_a_window_too_short_for_the_folds_is_refused():
    with pytest.raises(ValueError, match="has 4 bars: too few for 3 folds"):
        fold_windows(4, folds=3, mode="rolling", in_sample_ratio=2)
    with pytest.raises(ValueError, match="walk_forward_mode"):
        fold_windows(100, folds=3, mode="expanding", in_sample_ratio=2)


def test_stitching_compounds_each_run_from_where_the_last_ended():
    # Run 1 ends at 105 (+5%); run 2 is +10% then -20% from its start: 115.5 then 84.
    assert stitch_equity([[100, 110, 105], [100, 110, 80]], 100) == pytest.approx(
        [100, 110, 105, 105, 115.5, 84]
    )


def test_stitched_points_keep_each_runs_times():
    runs = [
        [{"time": "t1", "equity": 1000}, {"time": "t2", "equity": 1200}],
        [{"time": "t3", "equity": 1000}, {"time": "t4", "equity": 900}],
    ]
    assert stitch_points(runs, 1000) == [
        {"time": "t1", "equity": 1000},
        {"time": "t2", "equity": 1200},
        {"time": "t3", "equity": 1200},
        {"time": "t4", "equity": 1080},
    ]


def test_parameter_stability_by_hand():
    report = parameter_stability([{"p": 10, "q": 1}, {"p": 20, "q": 1}, {"p": 30, "q": 1}])
    assert report["p"]["values"] == [10, 20, 30]
    assert report["p"]["mean"] == 20
    assert report["p"]["std"] == pytest.approx((200 / 3) ** 0.5)
    assert report["p"]["coefficient_of_variation"] == pytest.approx((200 / 3) ** 0.5 / 20)
    assert report["q"] == {
        "values": [1, 1, 1],
        "mean": 1,
        "std": 0,
        "coefficient_of_variation": 0,
        "distinct": 1,
    }


def test_efficiency_is_mean_out_of_sample_over_mean_in_sample():
    assert efficiency([2.0, 1.0, None], [1.0, 0.5, 3.0]) == pytest.approx(0.5)
    assert efficiency([None], [1.0]) is None
