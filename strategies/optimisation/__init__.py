"""Parameter optimisation and walk-forward analysis: pure functions over rule trees, candles and
results (no Django). The service (strategies.services.optimisations) stores and schedules them;
docs/optimisation.md describes the whole."""

from strategies.optimisation.objective import (
    CONSTRAINTS,
    OBJECTIVES,
    ObjectiveError,
    Scored,
    meets_constraints,
    objective_value,
    parse_constraints,
    rank,
)
from strategies.optimisation.runner import VariantOutcome, run_variant, variant_inputs
from strategies.optimisation.search import GRID, METHODS, RANDOM, search_variants
from strategies.optimisation.space import (
    RISK_COLUMNS,
    Parameter,
    ParameterSpaceError,
    apply_parameters,
    leaf_domain,
    parse_space,
    space_size,
)
from strategies.optimisation.walkforward import (
    ANCHORED,
    MODES,
    ROLLING,
    Fold,
    efficiency,
    fold_windows,
    parameter_stability,
    stitch_equity,
    stitch_points,
)

__all__ = [
    "ANCHORED",
    "CONSTRAINTS",
    "GRID",
    "METHODS",
    "MODES",
    "OBJECTIVES",
    "RANDOM",
    "RISK_COLUMNS",
    "ROLLING",
    "Fold",
    "ObjectiveError",
    "Parameter",
    "ParameterSpaceError",
    "Scored",
    "VariantOutcome",
    "apply_parameters",
    "efficiency",
    "fold_windows",
    "leaf_domain",
    "meets_constraints",
    "objective_value",
    "parameter_stability",
    "parse_constraints",
    "parse_space",
    "rank",
    "run_variant",
    "search_variants",
    "space_size",
    "stitch_equity",
    "stitch_points",
    "variant_inputs",
]
