"""How strategies' models are treated by GDPR export and erasure, retention and the audit trail
(registered from StrategiesConfig.ready(); see docs/compliance.md)."""

import datetime as dt

from compliance.registry import (
    ArchivalJob,
    AuditEvents,
    Erasure,
    ModelPolicy,
    Retention,
    registry,
)

# Spec §7.1: backtests and their trades can be re-run; completed ones are archived after a year.
BACKTEST_RETENTION = Retention(dt.timedelta(days=365), "can be re-run (spec §7.1)")


def declare() -> None:
    registry.register(
        "strategies",
        models=[
            ModelPolicy(
                "strategies.Strategy",
                Erasure.ERASED,
                exported=True,
                section="strategies",
                owner="user",
            ),
            ModelPolicy(
                "strategies.Backtest",
                Erasure.ERASED,
                retention=BACKTEST_RETENTION,
                exported=True,
                section="backtests",
                owner="user",
                time_field="created_at",
            ),
            ModelPolicy(
                "strategies.BacktestTrade",
                Erasure.ERASED,
                retention=BACKTEST_RETENTION,
                exported=True,
                section="backtest_trades",
                owner="backtest__user",
                time_field="backtest__created_at",
            ),
            ModelPolicy(
                "strategies.Optimisation",
                Erasure.ERASED,
                exported=True,
                section="optimisations",
                owner="user",
            ),
            ModelPolicy(
                "strategies.OptimisationVariant",
                Erasure.ERASED,
                exported=True,
                section="optimisation_variants",
                owner="optimisation__user",
            ),
            ModelPolicy(
                "strategies.OptimisationFold",
                Erasure.ERASED,
                exported=True,
                section="optimisation_folds",
                owner="optimisation__user",
            ),
        ],
        audit_events=[
            AuditEvents(
                "strategy",
                ("create", "update", "delete", "activate", "deactivate"),
                model="strategies.Strategy",
            ),
            AuditEvents("backtest", ("create", "update", "delete"), model="strategies.Backtest"),
            AuditEvents(
                "optimisation", ("create", "update", "delete"), model="strategies.Optimisation"
            ),
        ],
        archival_jobs=[
            ArchivalJob(
                "strategies.archive_backtests",
                "strategies.Backtest",
                BACKTEST_RETENTION,
                conditions=(("status", "completed"),),
                children=(("strategies.BacktestTrade", "backtest_id"),),
            )
        ],
    )
