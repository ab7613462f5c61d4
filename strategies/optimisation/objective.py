"""What "best" means: the objective a variant is ranked by, and the constraints it must meet.

Every objective is higher-is-better and reads one of the backtest result columns (at the
column's stored precision, so the ranking here and an ORDER BY over the stored rows agree). A
variant whose objective is undefined (no trades: no Sharpe) or that fails a constraint is never
the best.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# objective name -> result column
OBJECTIVES: dict[str, str] = {
    "sharpe": "sharpe_ratio",
    "sortino": "sortino_ratio",
    "calmar": "calmar_ratio",
    "total_return": "total_return_pct",
    "profit_factor": "profit_factor",
}

# constraint name -> (result column, "min" or "max")
CONSTRAINTS: dict[str, tuple[str, str]] = {
    "min_trades": ("total_trades", "min"),
    "max_drawdown_pct": ("max_drawdown_pct", "max"),
    "min_win_rate_pct": ("win_rate_pct", "min"),
    "min_total_return_pct": ("total_return_pct", "min"),
    "min_profit_factor": ("profit_factor", "min"),
}


class ObjectiveError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_constraints(raw: Any) -> dict[str, Decimal]:
    """{name: bound} from the request; raises ObjectiveError naming each bad entry."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ObjectiveError(["constraints: must be an object"])
    errors, parsed = [], {}
    for name, bound in raw.items():
        if name not in CONSTRAINTS:
            errors.append(f"constraints.{name}: unknown; expected one of {', '.join(CONSTRAINTS)}")
            continue
        if isinstance(bound, bool) or not isinstance(bound, int | float | str):
            errors.append(f"constraints.{name}: must be a number")
            continue
        try:
            value = Decimal(str(bound))
        except ArithmeticError:
            errors.append(f"constraints.{name}: must be a number")
            continue
        if not value.is_finite():
            errors.append(f"constraints.{name}: must be finite")
        elif name == "min_trades" and (value != value.to_integral_value() or value < 0):
            errors.append(f"constraints.{name}: must be a whole number >= 0")
        elif name == "max_drawdown_pct" and not 0 <= value <= 100:
            errors.append(f"constraints.{name}: must be between 0 and 100")
        else:
            parsed[name] = value
    if errors:
        raise ObjectiveError(errors)
    return parsed


def meets_constraints(columns: Mapping[str, Any], constraints: Mapping[str, Any]) -> bool:
    """Does a variant's result (backtest result columns) satisfy every constraint? A constraint
    on an undefined metric (the win rate of no trades) is not met."""
    for name, bound in constraints.items():
        column, kind = CONSTRAINTS[name]
        value = columns.get(column)
        if value is None:
            return False
        value, bound = Decimal(str(value)), Decimal(str(bound))
        if (kind == "min" and value < bound) or (kind == "max" and value > bound):
            return False
    return True


def objective_value(columns: Mapping[str, Any], objective: str) -> Decimal | None:
    value = columns.get(OBJECTIVES[objective])
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True)
class Scored:
    """A variant as ranked: its number, objective value and whether it qualifies."""

    number: int
    objective: Decimal | None
    qualifies: bool


def rank(scored: Iterable[Scored]) -> list[Scored]:
    """Qualifying variants with a defined objective, best first; ties go to the lower number (the
    earlier variant), so the ranking is the same however the chunks were run."""
    eligible = [s for s in scored if s.qualifies and s.objective is not None]
    return sorted(eligible, key=lambda s: (-s.objective, s.number))
