"""The parameter space of an optimisation: which numbers of a strategy vary, and over what.

A parameter is named by its path: a numeric leaf of a rule tree (`entry_rules.all[0].left.period`,
`exit_rules.right`, an indicator parameter the tree leaves at its default) or one of the risk
columns (`stop_loss_pct`, `take_profit_pct`, `trailing_stop_pct`, `max_position_size_pct`). Each
takes one of three forms:

    {"values": [10, 20, 30]}                     a list (grid and random search)
    {"start": 10, "stop": 50, "step": 10}        a range, both ends included (grid and random)
    {"low": 1.0, "high": 5.0}                    bounds, sampled uniformly (random search only)

Pure Python: no Django. Errors are "path: reason" strings, like the rule language's.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from strategies.rules.schema import INDICATORS, MAX_OFFSET, IntParam

RULE_ROOTS = ("entry_rules", "exit_rules")
# Risk column -> (lowest, highest, may be null); percentages with two decimals, as stored.
RISK_COLUMNS: dict[str, tuple[Decimal, Decimal, bool]] = {
    "stop_loss_pct": (Decimal("0"), Decimal("100"), True),
    "take_profit_pct": (Decimal("0"), Decimal("1000"), True),
    "trailing_stop_pct": (Decimal("0"), Decimal("100"), True),
    "max_position_size_pct": (Decimal("0.01"), Decimal("100"), False),
}
RISK_DECIMALS = 2
# A range may not expand to more values than this (a typo in a step would otherwise allocate
# millions of values before the variant cap is checked).
MAX_RANGE_VALUES = 100_000

_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


class ParameterSpaceError(ValueError):
    """The space cannot be used; `errors` holds one "path: reason" per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Domain:
    """What a leaf may hold: integer or real, its bounds, whether null (no stop) is allowed."""

    integer: bool
    low: float | None  # None: unbounded
    high: float | None
    low_exclusive: bool = False
    nullable: bool = False
    decimals: int | None = None  # values are rounded to this many decimals (risk columns)

    def check(self, value: Any) -> str | None:
        """Why `value` does not fit, or None."""
        if value is None:
            return None if self.nullable else "must be a number, not null"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if not _finite(value):
            return "must be finite"
        if self.integer and not (isinstance(value, int) or float(value).is_integer()):
            return "must be an integer"
        if self.low is not None and (value <= self.low if self.low_exclusive else value < self.low):
            sign = ">" if self.low_exclusive else ">="
            return f"must be {sign} {self.low:g}"
        if self.high is not None and value > self.high:
            return f"must be <= {self.high:g}"
        return None

    def normalise(self, value: Any) -> int | float | None:
        if value is None:
            return None
        if self.integer:
            return int(value)
        if self.decimals is not None:
            return float(round(Decimal(str(value)), self.decimals))
        return float(value)


@dataclass(frozen=True)
class Parameter:
    """One dimension of the space: `values` for a list or range, `low`/`high` for bounds."""

    path: str
    domain: Domain
    values: tuple[int | float | None, ...] | None = None
    low: float | None = None
    high: float | None = None

    @property
    def is_bounds(self) -> bool:
        return self.values is None

    def sample(self, rng: Any) -> int | float | None:
        """One value drawn with `rng` (a random.Random): uniform over the values or bounds."""
        if self.values is not None:
            return self.values[rng.randrange(len(self.values))]
        if self.domain.integer:
            return rng.randint(math.ceil(self.low), math.floor(self.high))
        value = self.domain.normalise(rng.uniform(self.low, self.high))
        # An exclusive lower bound (Bollinger's stddev > 0) is never drawn.
        return self.high if self.domain.check(value) else value


# --- Paths --------------------------------------------------------------------------------------


def parse_path(path: str) -> tuple[str, list[str | int]]:
    """`entry_rules.all[0].left.period` -> ("entry_rules", ["all", 0, "left", "period"]).
    Raises ValueError with the reason when the path is not written in that form."""
    for root in (*RULE_ROOTS, *RISK_COLUMNS):
        if path == root or path.startswith(root + ".") or path.startswith(root + "["):
            rest = path[len(root) :]
            steps: list[str | int] = []
            position = 0
            while position < len(rest):
                match = _TOKEN.match(rest, position)
                if match is None:
                    raise ValueError(f"cannot read the path from {rest[position:]!r}")
                steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
                position = match.end()
            return root, steps
    known = ", ".join((*RULE_ROOTS, *RISK_COLUMNS))
    raise ValueError(f"must start with one of {known}")


def leaf_domain(path: str, trees: dict[str, Any]) -> Domain:
    """The domain of the numeric leaf `path` names in `trees` ({"entry_rules": ..., "exit_rules":
    ...}). Raises ValueError saying where the path leaves the tree or why the leaf is not a
    number the optimiser may vary."""
    root, steps = parse_path(path)
    if root in RISK_COLUMNS:
        if steps:
            raise ValueError(f"{root} is a number; it has no {_show(steps[0])}")
        low, high, nullable = RISK_COLUMNS[root]
        return Domain(
            integer=False,
            low=float(low),
            high=float(high),
            nullable=nullable,
            decimals=RISK_DECIMALS,
        )
    if not steps:
        raise ValueError(f"{root} is a rule tree, not a number; name a leaf inside it")
    node: Any = trees.get(root)
    walked = root
    for index, step in enumerate(steps):
        if (
            index == len(steps) - 1
            and isinstance(node, dict)
            and "indicator" in node
            and isinstance(step, str)
        ):
            return _indicator_domain(node, step, walked)
        if isinstance(step, int):
            if not isinstance(node, list):
                raise ValueError(f"{walked} is not a list; it has no [{step}]")
            if step >= len(node):
                raise ValueError(f"{walked} has {len(node)} elements; there is no [{step}]")
            node = node[step]
            walked = f"{walked}[{step}]"
            continue
        if not isinstance(node, dict):
            raise ValueError(f"{walked} is {node!r}; it has no {step!r}")
        if step not in node:
            raise ValueError(f"{walked} has no {step!r}")
        node = node[step]
        walked = f"{walked}.{step}"
    if last_step_is_operand(steps) and isinstance(node, int | float) and not isinstance(node, bool):
        return Domain(integer=False, low=None, high=None)
    if isinstance(node, dict | list):
        kind = "an object" if isinstance(node, dict) else "a list"
        raise ValueError(f"{walked} is {kind}, not a number")
    raise ValueError(f"{walked} is {node!r}, not a number the optimiser can vary")


def last_step_is_operand(steps: list[str | int]) -> bool:
    """A comparison's constant side (`...right` holding 70)."""
    return bool(steps) and steps[-1] in ("left", "right")


def _indicator_domain(operand: dict[str, Any], key: str, walked: str) -> Domain:
    name = operand["indicator"]
    spec = INDICATORS.get(name)
    if spec is None:
        raise ValueError(f"{walked} is an unknown indicator")
    if key == "offset":
        return Domain(integer=True, low=0, high=MAX_OFFSET)
    param = spec.params.get(key)
    if param is None:
        numeric = ", ".join([*spec.params, "offset"])
        raise ValueError(f"{walked}.{key}: {name} has no numeric parameter {key!r} ({numeric})")
    if isinstance(param, IntParam):
        return Domain(integer=True, low=param.minimum, high=param.maximum)
    return Domain(integer=False, low=0, high=param.maximum, low_exclusive=True)


def _show(step: str | int) -> str:
    return f"[{step}]" if isinstance(step, int) else f".{step}"


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidOperation
    return Decimal(str(value))


# --- The space ----------------------------------------------------------------------------------


def parse_space(raw: Any, *, trees: dict[str, Any], prefix: str = "parameters") -> list[Parameter]:
    """The parameters of `raw` ({path: form}), checked against the rule trees and the columns'
    bounds. Raises ParameterSpaceError listing every problem as "parameters.<path>: reason"."""
    if not isinstance(raw, dict) or not raw:
        raise ParameterSpaceError([f"{prefix}: must be an object of at least one parameter"])
    errors: list[str] = []
    parameters: list[Parameter] = []
    for path, form in raw.items():
        where = f"{prefix}.{path}"
        try:
            domain = leaf_domain(path, trees)
        except ValueError as error:
            errors.append(f"{where}: {error}")
            continue
        parameter = _parse_form(path, form, domain, where, errors)
        if parameter is not None:
            parameters.append(parameter)
    if errors:
        raise ParameterSpaceError(errors)
    return parameters


def _parse_form(
    path: str, form: Any, domain: Domain, where: str, errors: list[str]
) -> Parameter | None:
    if not isinstance(form, dict):
        errors.append(f"{where}: must be an object with values, start/stop/step or low/high")
        return None
    keys = set(form)
    if keys == {"values"}:
        values = form["values"]
        if not isinstance(values, list) or not values:
            errors.append(f"{where}.values: must be a non-empty list")
            return None
        problems = [(i, domain.check(v)) for i, v in enumerate(values)]
        bad = [f"{where}.values[{i}]: {why}" for i, why in problems if why]
        if bad:
            errors.extend(bad)
            return None
        unique = tuple(dict.fromkeys(domain.normalise(v) for v in values))
        return Parameter(path=path, domain=domain, values=unique)
    if keys == {"start", "stop", "step"}:
        return _parse_range(path, form, domain, where, errors)
    if keys == {"low", "high"}:
        low, high = form["low"], form["high"]
        bad = [(k, domain.check(v)) for k, v in (("low", low), ("high", high))]
        bad = [(k, why) for k, why in bad if why]
        if bad:
            errors.extend(f"{where}.{k}: {why}" for k, why in bad)
            return None
        if low is None or high is None:
            errors.append(f"{where}: bounds must be numbers")
            return None
        if high < low:
            errors.append(f"{where}.high: must be >= low")
            return None
        if domain.integer and math.floor(high) < math.ceil(low):
            errors.append(f"{where}: no integer lies between low and high")
            return None
        return Parameter(path=path, domain=domain, low=float(low), high=float(high))
    errors.append(
        f"{where}: give exactly one form: values, start/stop/step, or low/high (got "
        f"{', '.join(sorted(map(str, keys))) or 'nothing'})"
    )
    return None


def _parse_range(
    path: str, form: dict[str, Any], domain: Domain, where: str, errors: list[str]
) -> Parameter | None:
    try:
        start, stop, step = (_decimal(form[k]) for k in ("start", "stop", "step"))
    except (InvalidOperation, ValueError):
        errors.append(f"{where}: start, stop and step must be numbers")
        return None
    if not step.is_finite() or step <= 0:
        errors.append(f"{where}.step: must be > 0")
        return None
    if stop < start:
        errors.append(f"{where}.stop: must be >= start")
        return None
    if domain.integer and any(v != v.to_integral_value() for v in (start, stop, step)):
        errors.append(f"{where}: start, stop and step must be integers")
        return None
    count = int((stop - start) / step) + 1
    if count > MAX_RANGE_VALUES:
        errors.append(f"{where}: the range has {count} values; at most {MAX_RANGE_VALUES}")
        return None
    values = [start + i * step for i in range(count)]
    as_numbers = [int(v) if domain.integer else float(v) for v in values]
    for bound, value in (("start", as_numbers[0]), ("stop", as_numbers[-1])):
        if why := domain.check(value):
            errors.append(f"{where}.{bound}: {why}")
            return None
    unique = tuple(dict.fromkeys(domain.normalise(v) for v in as_numbers))
    return Parameter(path=path, domain=domain, values=unique)


def space_size(parameters: list[Parameter]) -> int | None:
    """Variants in the full grid, or None when a parameter is bounds (not enumerable)."""
    size = 1
    for parameter in parameters:
        if parameter.values is None:
            return None
        size *= len(parameter.values)
    return size


# --- Applying a variant -------------------------------------------------------------------------


def apply_parameters(
    *, trees: dict[str, Any], risk: dict[str, Any], parameters: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rule trees and risk columns with the variant's values written at their paths (copies;
    the inputs are left as they are). Paths must have been checked by parse_space."""
    new_trees = copy.deepcopy(trees)
    new_risk = dict(risk)
    for path, value in parameters.items():
        root, steps = parse_path(path)
        if root in RISK_COLUMNS:
            new_risk[root] = value
            continue
        node = new_trees[root]
        for step in steps[:-1]:
            node = node[step]
        node[steps[-1]] = value
    return new_trees, new_risk
