"""Which variants an optimisation runs: the full grid, or a seeded random sample of the space.

Both are deterministic functions of the space (and the seed), so any worker can rebuild the list
and run its own slice of it: a chunk is (fold, first variant, last variant), never a copy of the
parameters sent through the broker.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

from strategies.optimisation.space import Parameter, ParameterSpaceError, space_size

GRID = "grid"
RANDOM = "random"
METHODS = (GRID, RANDOM)
# Random search gives up drawing new distinct variants after this many draws per variant asked.
_DRAWS_PER_VARIANT = 20


def search_variants(
    parameters: list[Parameter], *, method: str, max_variants: int, seed: int | None = None
) -> list[dict[str, Any]]:
    """The variants, each {path: value}, in a stable order.

    grid: every combination, first parameter slowest; more than max_variants is an error (the
    caller narrows the space or raises the cap) rather than a silent truncation. random:
    max_variants distinct draws with random.Random(seed) (fewer when the space is smaller)."""
    if method == GRID:
        size = space_size(parameters)
        if size is None:
            bounded = next(p.path for p in parameters if p.is_bounds)
            raise ParameterSpaceError(
                [
                    f"parameters.{bounded}: bounds (low/high) can only be sampled by a random "
                    "search; give values or start/stop/step for a grid"
                ]
            )
        if size > max_variants:
            raise ParameterSpaceError(
                [
                    f"max_variants: the grid has {size:,} variants, more than max_variants "
                    f"({max_variants:,}); narrow the ranges or use a random search"
                ]
            )
        paths = [p.path for p in parameters]
        return [
            dict(zip(paths, combination, strict=True))
            for combination in itertools.product(*(p.values for p in parameters))
        ]
    if method == RANDOM:
        if seed is None:
            raise ParameterSpaceError(["random_seed: is required for a random search"])
        rng = random.Random(seed)
        size = space_size(parameters)
        wanted = max_variants if size is None else min(max_variants, size)
        seen: set[str] = set()
        variants: list[dict[str, Any]] = []
        for _ in range(wanted * _DRAWS_PER_VARIANT):
            if len(variants) >= wanted:
                break
            variant = {p.path: p.sample(rng) for p in parameters}
            key = json.dumps(variant, sort_keys=True)
            if key not in seen:
                seen.add(key)
                variants.append(variant)
        return variants
    raise ParameterSpaceError([f"search_method: must be one of {', '.join(METHODS)}"])
