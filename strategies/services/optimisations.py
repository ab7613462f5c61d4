"""Optimisations: start one (check the space, freeze the strategy, apply the user's limits, send
its chunks), cancel it, and turn a variant into a new version of the strategy. Running the chunks
is strategies.services.optimisation_runs; docs/optimisation.md describes the whole.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from compliance.audit import AuditContext
from compliance.encoding import json_value
from compliance.models import AuditLog
from compliance.services import (
    audited_create,
    audited_delete,
    audited_update,
    record_audit_event,
)
from core.errors import LimitExceeded, StateConflict
from strategies.models import Optimisation, OptimisationVariant, Strategy
from strategies.optimisation import (
    GRID,
    OBJECTIVES,
    ROLLING,
    ObjectiveError,
    ParameterSpaceError,
    apply_parameters,
    parse_constraints,
    parse_space,
    search_variants,
)
from strategies.optimisation.runner import RISK_FIELDS
from strategies.services.backtests import (
    DEFAULT_COMMISSION_PCT,
    DEFAULT_SLIPPAGE_PCT,
    RUN_AUDIT_FIELDS,
    date_range_errors,
    strategy_snapshot,
)
from strategies.services.strategies import update_strategy

logger = logging.getLogger(__name__)

DEFAULT_IN_SAMPLE_RATIO = 3
# A chunk whose task was sent less than this long ago (seconds) is not sent again by the sweep.
ENQUEUED_TTL = 600


# A new optimisation's audit row: what every run records, and the search.
OPTIMISATION_AUDIT_FIELDS = (
    *RUN_AUDIT_FIELDS,
    "parameter_space",
    "search_method",
    "random_seed",
    "max_variants",
    "objective",
    "constraints",
    "walk_forward_folds",
    "walk_forward_mode",
    "in_sample_ratio",
    "variants_total",
)


class OptimisationStateError(StateConflict):
    """The action does not apply to the optimisation in its current status."""


def variants_per_hour_key(user_id: uuid.UUID | str, hour: dt.datetime) -> str:
    return f"optimisation:variants:{user_id}:{hour:%Y%m%d%H}"


def chunk_enqueued_key(optimisation_id: uuid.UUID | str, fold: int, chunk: int) -> str:
    return f"optimisation:enqueued:{optimisation_id}:{fold}:{chunk}"


def _field_of(error: str) -> str:
    """The request field a "path: reason" error from strategies.optimisation belongs to."""
    head = error.split(":", 1)[0]
    if head.startswith("parameters"):
        return "parameter_space"
    return head.split(".", 1)[0]


def _grouped(errors: list[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for error in errors:
        grouped.setdefault(_field_of(error), []).append(error)
    return grouped


def plan_variants(
    *,
    snapshot: dict[str, Any],
    parameter_space: Any,
    search_method: str,
    max_variants: int,
    random_seed: int | None,
) -> list[dict[str, Any]]:
    """The variants an optimisation of `snapshot` runs, in order (every worker rebuilds the same
    list). Raises ValidationError keyed by request field."""
    trees = {"entry_rules": snapshot["entry_rules"], "exit_rules": snapshot["exit_rules"]}
    try:
        parameters = parse_space(parameter_space, trees=trees)
        return search_variants(
            parameters, method=search_method, max_variants=max_variants, seed=random_seed
        )
    except ParameterSpaceError as error:
        raise ValidationError(_grouped(error.errors)) from error


def _check_limits(user: User, variants: int) -> None:
    """Per-user limits: optimisations pending or running at once, and variants started per clock
    hour (a Redis counter per hour). Raises LimitExceeded (HTTP 429)."""
    running = Optimisation.objects.filter(
        user=user, status__in=Optimisation.ACTIVE_STATUSES
    ).count()
    allowed = settings.OPTIMISATION_RUNNING_PER_USER
    if running >= allowed:
        raise LimitExceeded(
            f"You have {running} optimisations pending or running; at most {allowed} at once. "
            "Wait for one to finish or cancel one.",
            retry_after=60,
        )
    now = timezone.now()
    used = cache.get(variants_per_hour_key(user.pk, now)) or 0
    hourly = settings.OPTIMISATION_VARIANTS_PER_HOUR
    if used + variants > hourly:
        next_hour = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        raise LimitExceeded(
            f"This optimisation has {variants:,} variants and you have started {used:,} this "
            f"hour; at most {hourly:,} variants an hour.",
            retry_after=max(1, math.ceil((next_hour - now).total_seconds())),
        )


def _count_variants(user_id: uuid.UUID, variants: int) -> None:
    key = variants_per_hour_key(user_id, timezone.now())
    cache.add(key, 0, timeout=2 * 3600)
    cache.incr(key, variants)


def start_optimisation(
    *,
    user: User,
    strategy: Strategy,
    start_date: dt.date,
    end_date: dt.date,
    initial_capital: Decimal,
    parameter_space: dict[str, Any],
    objective: str,
    search_method: str = GRID,
    max_variants: int | None = None,
    random_seed: int | None = None,
    constraints: dict[str, Any] | None = None,
    commission_pct: Decimal | None = None,
    slippage_pct: Decimal | None = None,
    walk_forward_folds: int | None = None,
    walk_forward_mode: str | None = None,
    in_sample_ratio: int | None = None,
    context: AuditContext | None = None,
    enqueue: bool = True,
) -> Optimisation:
    """A `pending` optimisation of the strategy as it is now; its chunk tasks are sent once the
    transaction commits. Raises ValidationError keyed by field and LimitExceeded."""
    if strategy.user_id != user.pk:
        raise ValidationError({"strategy": "Strategy not found."})
    errors: dict[str, Any] = dict(date_range_errors(start_date, end_date))
    cap = settings.OPTIMISATION_MAX_VARIANTS
    max_variants = cap if max_variants is None else max_variants
    if not 1 <= max_variants <= cap:
        errors["max_variants"] = f"Must be between 1 and {cap:,} (the variant cap)."
    if objective not in OBJECTIVES:
        errors["objective"] = f"Must be one of {', '.join(OBJECTIVES)}."
    try:
        parsed_constraints = parse_constraints(constraints)
    except ObjectiveError as error:
        errors["constraints"] = error.errors
    if walk_forward_folds is None and (walk_forward_mode or in_sample_ratio):
        errors["walk_forward_folds"] = "Is required for a walk-forward mode or ratio."
    if walk_forward_folds is not None:
        walk_forward_mode = walk_forward_mode or ROLLING
        in_sample_ratio = in_sample_ratio or DEFAULT_IN_SAMPLE_RATIO
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # One start at a time per user, so two requests cannot both pass the running limit.
        User.objects.select_for_update().filter(pk=user.pk).first()
        strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
        snapshot = strategy_snapshot(strategy)
        variants = plan_variants(
            snapshot=snapshot,
            parameter_space=parameter_space,
            search_method=search_method,
            max_variants=max_variants,
            random_seed=random_seed,
        )
        folds = walk_forward_folds or 0
        total = len(variants) * (1 + folds)
        _check_limits(user, total)
        run = Optimisation(
            strategy=strategy,
            user=user,
            start_date=start_date,
            end_date=end_date,
            initial_capital=initial_capital,
            commission_pct=DEFAULT_COMMISSION_PCT if commission_pct is None else commission_pct,
            slippage_pct=DEFAULT_SLIPPAGE_PCT if slippage_pct is None else slippage_pct,
            strategy_snapshot=snapshot,
            parameter_space=parameter_space,
            search_method=search_method,
            random_seed=random_seed,
            max_variants=max_variants,
            objective=objective,
            constraints={k: str(v) for k, v in parsed_constraints.items()},
            walk_forward_folds=walk_forward_folds,
            walk_forward_mode=walk_forward_mode if walk_forward_folds else None,
            in_sample_ratio=in_sample_ratio if walk_forward_folds else None,
            chunk_size=settings.OPTIMISATION_CHUNK_SIZE,
            status=Optimisation.Status.PENDING,
            variants_total=total,
            variants_done=0,
        )
        audited_create(
            instance=run, actor=user, fields=list(OPTIMISATION_AUDIT_FIELDS), context=context
        )
        run_id, user_id = run.pk, user.pk
        transaction.on_commit(lambda: _count_variants(user_id, total))
        if enqueue:
            transaction.on_commit(lambda: enqueue_optimisation(run_id))
    return run


def chunks_of(run: Optimisation) -> list[tuple[int, int]]:
    """Every (fold, chunk) of the optimisation: fold 0 is the whole window, 1..K the folds."""
    per_fold = run.variants_total // (1 + (run.walk_forward_folds or 0))
    chunks = math.ceil(per_fold / run.chunk_size)
    return [
        (fold, chunk)
        for fold in range(1 + (run.walk_forward_folds or 0))
        for chunk in range(chunks)
    ]


def enqueue_chunks(optimisation_id: uuid.UUID | str, chunks: list[tuple[int, int]]) -> bool:
    """Send the chunks as one Celery group to the `optimise` queue. A broker outage is logged,
    not raised: the sweep (recover_optimisations) sends them again."""
    from celery import group

    from strategies.tasks import run_optimisation_chunk

    if not chunks:
        return True
    try:
        group(
            run_optimisation_chunk.s(str(optimisation_id), fold, chunk) for fold, chunk in chunks
        ).apply_async()
    except Exception:
        logger.exception("could not send the chunks of optimisation %s", optimisation_id)
        return False
    cache.set_many(
        {chunk_enqueued_key(optimisation_id, f, c): 1 for f, c in chunks}, timeout=ENQUEUED_TTL
    )
    return True


def enqueue_optimisation(optimisation_id: uuid.UUID | str) -> bool:
    run = Optimisation.objects.filter(pk=optimisation_id).first()
    if run is None or run.is_finished:
        return False
    return enqueue_chunks(optimisation_id, chunks_of(run))


def cancel_optimisation(
    *, optimisation: Optimisation, actor: User | None, context: AuditContext | None = None
) -> Optimisation:
    """pending or running → cancelled. Every chunk reads the status at least once a second (and
    between variants) and stops; chunks still queued do nothing when they start. Raises
    OptimisationStateError for a finished optimisation."""
    with transaction.atomic():
        locked = Optimisation.objects.select_for_update().get(pk=optimisation.pk)
        if locked.status not in Optimisation.ACTIVE_STATUSES:
            raise OptimisationStateError(
                f"The optimisation is already {locked.status}; only pending or running "
                "optimisations can be cancelled."
            )
        audited_update(
            instance=locked,
            changes={"status": Optimisation.Status.CANCELLED, "completed_at": timezone.now()},
            actor=actor,
            context=context,
        )
    optimisation.refresh_from_db()
    return optimisation


def delete_optimisation(
    *, optimisation: Optimisation, actor: User | None, context: AuditContext | None = None
) -> None:
    """Delete a finished optimisation with its variants and folds. A pending or running one is
    an OptimisationStateError: cancel it first."""
    with transaction.atomic():
        locked = Optimisation.objects.select_for_update().get(pk=optimisation.pk)
        if locked.status in Optimisation.ACTIVE_STATUSES:
            raise OptimisationStateError(
                f"The optimisation is {locked.status}; cancel it before deleting it."
            )
        audited_delete(
            instance=locked,
            actor=actor,
            fields=[*RUN_AUDIT_FIELDS, "objective", "status"],
            context=context,
        )


def _risk_value(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def apply_variant(
    *,
    optimisation: Optimisation,
    actor: User,
    variant: OptimisationVariant | None = None,
    context: AuditContext | None = None,
) -> Strategy:
    """Write a variant's values (default: the best of the whole window) into the strategy it was
    found for; the database raises the strategy's version when its rules change. Refused (409)
    when the strategy's rules have changed since the optimisation froze them: the values were
    found for those rules, not the current ones."""
    from strategies.optimisation_selectors import best_variant

    if variant is None:
        variant = best_variant(optimisation)
        if variant is None:
            raise OptimisationStateError(
                "The optimisation has no variant that ran and met its constraints."
            )
    elif variant.optimisation_id != optimisation.pk or variant.fold != 0:
        raise ValidationError({"variant": "Not a variant of this optimisation's whole window."})
    if variant.error_message:
        raise ValidationError({"variant": "This variant did not run: " + variant.error_message})
    snapshot = optimisation.strategy_snapshot
    with transaction.atomic():
        strategy = Strategy.objects.select_for_update().get(pk=optimisation.strategy_id)
        if strategy.version != snapshot.get("version"):
            raise OptimisationStateError(
                f"The strategy is at version {strategy.version}; the optimisation ran version "
                f"{snapshot.get('version')}. Optimise the current version again."
            )
        trees = {"entry_rules": snapshot["entry_rules"], "exit_rules": snapshot["exit_rules"]}
        risk = {name: snapshot.get(name) for name in RISK_FIELDS}
        new_trees, new_risk = apply_parameters(
            trees=trees, risk=risk, parameters=variant.parameters
        )
        changes: dict[str, Any] = {
            "entry_rules": new_trees["entry_rules"],
            "exit_rules": new_trees["exit_rules"],
        }
        for name in variant.parameters:
            if name in RISK_FIELDS:
                changes[name] = _risk_value(new_risk[name])
        strategy = update_strategy(strategy=strategy, actor=actor, changes=changes, context=context)
        # An event of its own: the strategy's update row (update_strategy) holds the values;
        # this row ties it to the variant they came from.
        record_audit_event(
            actor=actor,
            action=AuditLog.Action.UPDATE,
            resource_type="optimisation",
            resource_id=optimisation.pk,
            new_values={
                "applied_variant": json_value(variant.pk),
                "parameters": variant.parameters,
                "strategy_version": strategy.version,
            },
            context=context,
        )
    return strategy
