"""Creating, editing and moving strategies through their lifecycle. Every call validates the rule
trees (strategies.rules.schema), runs in one transaction and writes its audit row."""

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import audited_create, audited_delete, audited_update
from core.errors import StateConflict
from strategies.models import Strategy

EDITABLE_FIELDS = (
    "name",
    "description",
    "asset_symbol",
    "timeframe",
    "entry_rules",
    "exit_rules",
    "stop_loss_pct",
    "take_profit_pct",
    "max_position_size_pct",
    "max_drawdown_pct",
    "trailing_stop_pct",
    "trading_mode",
)


def create_strategy(
    *,
    user: User,
    name: str,
    asset_symbol: str,
    timeframe: str,
    entry_rules: dict[str, Any],
    exit_rules: dict[str, Any],
    description: str | None = None,
    stop_loss_pct: Decimal | None = None,
    take_profit_pct: Decimal | None = None,
    max_position_size_pct: Decimal | None = Decimal("10.00"),
    max_drawdown_pct: Decimal | None = None,
    trailing_stop_pct: Decimal | None = None,
    trading_mode: str | None = None,
    actor: User | None = None,
    context: AuditContext | None = None,
) -> Strategy:
    """A new draft strategy of `user`, made by `actor` (default: the user; an operator in the
    console). Raises ValidationError keyed by field (rule errors name their path)."""
    with transaction.atomic():
        strategy = Strategy(
            user=user,
            name=name,
            description=description,
            asset_symbol=asset_symbol,
            timeframe=timeframe,
            entry_rules=entry_rules,
            exit_rules=exit_rules,
            stop_loss_pct=stop_loss_pct,
            take_profit_pct=take_profit_pct,
            max_position_size_pct=max_position_size_pct,
            max_drawdown_pct=max_drawdown_pct,
            trailing_stop_pct=trailing_stop_pct,
            trading_mode=trading_mode,
        )
        audited_create(
            instance=strategy, actor=actor or user, fields=list(EDITABLE_FIELDS), context=context
        )
    return strategy


def update_strategy(
    *, strategy: Strategy, actor: User, changes: dict[str, Any], context: AuditContext | None = None
) -> Strategy:
    """Edit a strategy. The database raises `version` when the rules change."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        audited_update(
            instance=Strategy.objects.select_for_update().get(pk=strategy.pk),
            changes=changes,
            actor=actor,
            context=context,
        )
    strategy.refresh_from_db()
    return strategy


# The lifecycle: which states each transition may start from. An archived strategy is final.
ALLOWED_FROM = {
    Strategy.Status.ACTIVE: (Strategy.Status.DRAFT, Strategy.Status.PAUSED),
    Strategy.Status.PAUSED: (Strategy.Status.ACTIVE,),
    Strategy.Status.ARCHIVED: (
        Strategy.Status.DRAFT,
        Strategy.Status.ACTIVE,
        Strategy.Status.PAUSED,
    ),
}


def _set_status(
    *, strategy: Strategy, actor: User, status: str, action: str, context: AuditContext | None
) -> Strategy:
    """Move the strategy to `status` if its current state allows it (StateConflict otherwise)."""
    with transaction.atomic():
        strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
        old_status = strategy.status
        if old_status not in ALLOWED_FROM[status]:
            raise StateConflict(f"A {old_status} strategy cannot become {status}.")
        changes: dict[str, Any] = {"status": status}
        if status == Strategy.Status.ACTIVE:
            if not strategy.trading_mode:
                changes["trading_mode"] = Strategy.TradingMode.PAPER
            changes["activated_at"] = timezone.now()
        audited_update(
            instance=strategy, changes=changes, actor=actor, action=action, context=context
        )
    strategy.refresh_from_db()
    return strategy


def activate_strategy(
    *, strategy: Strategy, actor: User, context: AuditContext | None = None
) -> Strategy:
    """Start trading the strategy (paper unless its trading_mode says live)."""
    return _set_status(
        strategy=strategy,
        actor=actor,
        status=Strategy.Status.ACTIVE,
        action=AuditLog.Action.ACTIVATE,
        context=context,
    )


def pause_strategy(
    *, strategy: Strategy, actor: User, context: AuditContext | None = None
) -> Strategy:
    return _set_status(
        strategy=strategy,
        actor=actor,
        status=Strategy.Status.PAUSED,
        action=AuditLog.Action.DEACTIVATE,
        context=context,
    )


def archive_strategy(
    *, strategy: Strategy, actor: User, context: AuditContext | None = None
) -> Strategy:
    return _set_status(
        strategy=strategy,
        actor=actor,
        status=Strategy.Status.ARCHIVED,
        action=AuditLog.Action.DEACTIVATE,
        context=context,
    )


def delete_strategy(
    *, strategy: Strategy, actor: User, context: AuditContext | None = None
) -> None:
    """Delete a strategy and, by ON DELETE CASCADE, its backtests. A backtest still running
    notices that its row is gone and stops without saving."""
    with transaction.atomic():
        audited_delete(
            instance=Strategy.objects.select_for_update().get(pk=strategy.pk),
            actor=actor,
            fields=["name", "version", *EDITABLE_FIELDS[2:]],
            context=context,
        )
