import pytest

from strategies.optimisation.search import search_variants
from strategies.optimisation.space import ParameterSpaceError, parse_space

TREES = {
    "entry_rules": {
        "left": {"indicator": "sma", "period": 20},
        "op": "crosses_above",
        "right": {"indicator": "sma", "period": 50},
    },
    "exit_rules": {},
}
FAST = "entry_rules.left.period"
SLOW = "entry_rules.right.period"


def space(raw):
    return parse_space(raw, trees=TREES)


def test_the_grid_is_every_combination_first_parameter_slowest():
    variants = search_variants(
        space({FAST: {"values": [5, 10]}, SLOW: {"start": 30, "stop": 50, "step": 10}}),
        method="grid",
        max_variants=6,
    )
    assert variants == [
        {FAST: 5, SLOW: 30},
        {FAST: 5, SLOW: 40},
        {FAST: 5, SLOW: 50},
        {FAST: 10, SLOW: 30},
        {FAST: 10, SLOW: 40},
        {FAST: 10, SLOW: 50},
    ]


def test_a_grid_larger_than_max_variants_is_refused_not_truncated():
    with pytest.raises(ParameterSpaceError) as caught:
        search_variants(
            space({FAST: {"values": [5, 10]}, SLOW: {"values": [30, 40]}}),
            method="grid",
            max_variants=3,
        )
    assert caught.value.errors == [
        "max_variants: the grid has 4 variants, more than max_variants (3); narrow the ranges "
        "or use a random search"
    ]


def test_a_grid_cannot_enumerate_bounds():
    with pytest.raises(ParameterSpaceError, match="only be sampled by a random search"):
        search_variants(space({FAST: {"low": 5, "high": 10}}), method="grid", max_variants=10)


def test_random_search_is_reproducible_from_its_seed_and_stays_inside_the_space():
    parameters = space({FAST: {"low": 5, "high": 15}, "stop_loss_pct": {"low": 0.5, "high": 4}})
    first = search_variants(parameters, method="random", max_variants=25, seed=42)
    again = search_variants(parameters, method="random", max_variants=25, seed=42)
    other = search_variants(parameters, method="random", max_variants=25, seed=43)
    assert first == again
    assert first != other
    assert len(first) == 25
    assert len({tuple(sorted(v.items())) for v in first}) == 25  # distinct
    for variant in first:
        assert isinstance(variant[FAST], int) and 5 <= variant[FAST] <= 15
        assert 0.5 <= variant["stop_loss_pct"] <= 4
        assert round(variant["stop_loss_pct"], 2) == variant["stop_loss_pct"]


def test_random_search_of_a_small_discrete_space_returns_each_variant_once():
    variants = search_variants(
        space({FAST: {"values": [5, 10]}, SLOW: {"values": [30, 40]}}),
        method="random",
        max_variants=50,
        seed=1,
    )
    assert sorted((v[FAST], v[SLOW]) for v in variants) == [(5, 30), (5, 40), (10, 30), (10, 40)]


def test_random_search_needs_a_seed():
    with pytest.raises(ParameterSpaceError, match="random_seed: is required"):
        search_variants(space({FAST: {"values": [5]}}), method="random", max_variants=5)
