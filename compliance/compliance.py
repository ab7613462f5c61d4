"""Compliance's own models in the registry it owns (registered from ComplianceConfig.ready())."""

import datetime as dt

from compliance.registry import AuditEvents, Erasure, ModelPolicy, Retention, registry

AUDIT_RETENTION = Retention(dt.timedelta(days=7 * 365), "compliance (spec §7.1)")


def declare() -> None:
    registry.register(
        "compliance",
        models=[
            ModelPolicy(
                "compliance.AuditLog",
                Erasure.ANONYMISED,
                retention=AUDIT_RETENTION,
                exported=True,
                section="audit_entries",
                # Rows where they acted, and rows about their account.
                owner=("user", "resource_id"),
                order_by=("chain_seq",),
                time_field="created_at",
            ),
            # The chain's bookkeeping: hashes and positions, about nobody.
            ModelPolicy(
                "compliance.AuditChainHead", Erasure.NO_PERSONAL_DATA, retention=AUDIT_RETENTION
            ),
            ModelPolicy(
                "compliance.AuditChainAnchor", Erasure.NO_PERSONAL_DATA, retention=AUDIT_RETENTION
            ),
            # Archival bookkeeping: row ids of archived rows and file names, about nobody.
            ModelPolicy("compliance.ArchiveBatch", Erasure.NO_PERSONAL_DATA),
            ModelPolicy("compliance.RetentionJobRun", Erasure.NO_PERSONAL_DATA),
        ],
        audit_events=[AuditEvents("gdpr_export", ("read",)), AuditEvents("archive", ("delete",))],
    )
