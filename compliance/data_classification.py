"""GDPR classification of every model of ApexTrade: what kind of data a table holds, how long it is
kept (spec §7.1) and what erasing a user does to it. GDPR export and erasure, and the retention
jobs, read this map; a test fails when a model is added without an entry."""

from dataclasses import dataclass
from enum import StrEnum


class DataCategory(StrEnum):
    PERSONAL = "personal"  # identifies or describes a person
    USER_CONTENT = "user_content"  # made by a user: strategies, backtests, alerts
    FINANCIAL_RECORD = "financial_record"  # kept for regulators (MiFID II) whoever asks
    SECRET = "secret"  # credentials: never exported in clear
    AUDIT = "audit"  # compliance trail
    MARKET_DATA = "market_data"  # about markets, about nobody
    OPERATIONAL = "operational"  # the system's own bookkeeping


class Erasure(StrEnum):
    DELETE = "delete"  # removed with the user
    ANONYMISE = "anonymise"  # kept, links to the person removed
    RETAIN = "retain"  # kept as is: no personal data, or a legal duty to keep


@dataclass(frozen=True)
class Classification:
    category: DataCategory
    erasure: Erasure
    retention: str  # as spec §7.1 states it
    exported: bool  # part of a GDPR Article 15 export


MODEL_CLASSIFICATION: dict[str, Classification] = {
    "accounts.User": Classification(DataCategory.PERSONAL, Erasure.ANONYMISE, "forever", True),
    "accounts.ApiKey": Classification(DataCategory.SECRET, Erasure.DELETE, "forever", False),
    "accounts.Alert": Classification(DataCategory.USER_CONTENT, Erasure.DELETE, "forever", True),
    "strategies.Strategy": Classification(
        DataCategory.USER_CONTENT, Erasure.DELETE, "forever", True
    ),
    "strategies.Backtest": Classification(
        DataCategory.USER_CONTENT, Erasure.DELETE, "1 year", True
    ),
    "strategies.BacktestTrade": Classification(
        DataCategory.USER_CONTENT, Erasure.DELETE, "1 year", True
    ),
    # Optimisations are backtests in bulk: the same classification and retention.
    "strategies.Optimisation": Classification(
        DataCategory.USER_CONTENT, Erasure.DELETE, "1 year", True
    ),
    "strategies.OptimisationVariant": Classification(
        DataCategory.USER_CONTENT, Erasure.DELETE, "1 year", True
    ),
    "strategies.OptimisationFold": Classification(
        DataCategory.USER_CONTENT, Erasure.DELETE, "1 year", True
    ),
    "trading.Portfolio": Classification(
        DataCategory.FINANCIAL_RECORD, Erasure.ANONYMISE, "10 years", True
    ),
    "trading.Position": Classification(
        DataCategory.FINANCIAL_RECORD, Erasure.ANONYMISE, "10 years", True
    ),
    "trading.Trade": Classification(
        DataCategory.FINANCIAL_RECORD, Erasure.ANONYMISE, "10 years", True
    ),
    "compliance.AuditLog": Classification(DataCategory.AUDIT, Erasure.ANONYMISE, "7 years", True),
    "marketdata.Ohlcv": Classification(DataCategory.MARKET_DATA, Erasure.RETAIN, "5 years", False),
    "marketdata.EquityHistory": Classification(
        DataCategory.FINANCIAL_RECORD, Erasure.ANONYMISE, "10 years", True
    ),
    "marketdata.TickData": Classification(
        DataCategory.MARKET_DATA, Erasure.RETAIN, "7 days", False
    ),
    "marketdata.OhlcvHourly": Classification(
        DataCategory.MARKET_DATA, Erasure.RETAIN, "5 years", False
    ),
    "marketdata.OhlcvDaily": Classification(
        DataCategory.MARKET_DATA, Erasure.RETAIN, "5 years", False
    ),
    "marketdata.RollupInvalidation": Classification(
        DataCategory.OPERATIONAL, Erasure.RETAIN, "until applied", False
    ),
    "marketdata.RollupWatermark": Classification(
        DataCategory.OPERATIONAL, Erasure.RETAIN, "forever", False
    ),
    "marketdata.MaintenanceJobRun": Classification(
        DataCategory.OPERATIONAL, Erasure.RETAIN, "forever", False
    ),
}

# Third-party models ApexTrade stores but does not own; classified so nothing is left unexamined.
THIRD_PARTY_CLASSIFICATION: dict[str, Classification] = {
    # Operators' permission groups: no personal data of clients.
    "auth.Group": Classification(DataCategory.OPERATIONAL, Erasure.RETAIN, "forever", False),
    "auth.Permission": Classification(DataCategory.OPERATIONAL, Erasure.RETAIN, "forever", False),
    "contenttypes.ContentType": Classification(
        DataCategory.OPERATIONAL, Erasure.RETAIN, "forever", False
    ),
    # The admin's change history names the operator and the object changed.
    "admin.LogEntry": Classification(DataCategory.AUDIT, Erasure.ANONYMISE, "7 years", False),
    # Sessions live in Redis (accounts.session_store); the table exists but stays empty.
    "sessions.Session": Classification(DataCategory.PERSONAL, Erasure.DELETE, "2 weeks", False),
}
# Celery beat's schedule tables: the system's own jobs, no personal data.
for _name in (
    "ClockedSchedule",
    "CrontabSchedule",
    "IntervalSchedule",
    "PeriodicTask",
    "PeriodicTasks",
    "SolarSchedule",
):
    THIRD_PARTY_CLASSIFICATION[f"django_celery_beat.{_name}"] = Classification(
        DataCategory.OPERATIONAL, Erasure.RETAIN, "forever", False
    )

PROJECT_APPS = ("accounts", "strategies", "trading", "marketdata", "compliance")


def classification_for(label: str) -> Classification | None:
    return MODEL_CLASSIFICATION.get(label) or THIRD_PARTY_CLASSIFICATION.get(label)
