"""How trading's models are treated by GDPR export and erasure, retention and the audit trail
(registered from TradingConfig.ready(); see docs/compliance.md).

Trades are kept ten years whoever asks (MiFID II art. 16(6) and 25; GDPR art. 17(3)(b)): erasing
a person moves their trades inside that period, and the portfolios and positions they belong to,
to an anonymous placeholder owner, and removes what named the person from those portfolios."""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models.functions import Now

from compliance.registry import (
    ArchivalJob,
    AuditEvents,
    Erasure,
    ModelPolicy,
    Retention,
    registry,
)
from core.cache_keys import portfolio_key

TRADE_RETENTION = Retention(dt.timedelta(days=3653), "MiFID II record keeping (spec §7.1)")


def detach_trades(user: Any, placeholder: Any) -> int:
    """Move the person's trades inside their retention, with their portfolios, to `placeholder`."""
    from trading.models import Portfolio, Trade

    kept = Trade.objects.filter(user=user, created_at__gte=Now() - TRADE_RETENTION.period)
    portfolio_ids = set(kept.values_list("portfolio_id", flat=True))
    Portfolio.objects.filter(pk__in=portfolio_ids).update(
        user=placeholder, name="erased", description=None, broker_account_id=None
    )
    moved = kept.update(user=placeholder)
    # Past retention: the rows go with the person (their portfolios cascade to them).
    Trade.objects.filter(user=user).delete()
    return moved


def _redis_keys(user: Any) -> Iterable[str]:
    from trading.models import Portfolio

    # The placeholder's portfolios keep their ids; their cached valuation is dropped all the same.
    return [
        portfolio_key(pk) for pk in Portfolio.objects.filter(user=user).values_list("pk", flat=True)
    ]


def declare() -> None:
    registry.register(
        "trading",
        models=[
            ModelPolicy(
                "trading.Portfolio",
                Erasure.ERASED,
                exported=True,
                section="portfolios",
                owner="user",
            ),
            ModelPolicy(
                "trading.Position",
                Erasure.ERASED,
                exported=True,
                section="positions",
                owner="portfolio__user",
            ),
            ModelPolicy(
                "trading.Trade",
                Erasure.RETAINED_BY_LAW,
                retention=TRADE_RETENTION,
                exported=True,
                section="trades",
                owner="user",
                detach=detach_trades,
                time_field="created_at",
            ),
            ModelPolicy(
                "trading.LiveBalanceDiscrepancy",
                Erasure.ERASED,
                exported=True,
                section="balance_discrepancies",
                owner="portfolio__user",
            ),
            ModelPolicy(
                "trading.StrategyDeployment",
                Erasure.ERASED,
                exported=True,
                section="strategy_deployments",
                owner="strategy__user",
            ),
        ],
        audit_events=[
            AuditEvents(
                "portfolio", ("create", "update", "delete", "settings_changed"), "trading.Portfolio"
            ),
            AuditEvents("position", ("create", "update", "delete"), "trading.Position"),
            AuditEvents(
                "live_balance_discrepancy", ("create", "update"), "trading.LiveBalanceDiscrepancy"
            ),
            AuditEvents(
                "trade",
                ("order_placed", "order_filled", "order_cancelled", "update"),
                "trading.Trade",
            ),
        ],
        redis_keys=[_redis_keys],
        archival_jobs=[ArchivalJob("trading.archive_trades", "trading.Trade", TRADE_RETENTION)],
    )
