"""The audit trail's hash chain (compliance migration 0006): verifying it, and the two sanctioned
changes (GDPR anonymisation and the retention purge), which identify themselves to the
append-only trigger through the transaction setting `apextrade.audit_change`."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connections, router, transaction
from django.db.backends.utils import CursorWrapper

from compliance.models import AuditChainAnchor, AuditLog

GENESIS = bytes(32)


def audit_database() -> str:
    return router.db_for_write(AuditLog)


@contextlib.contextmanager
def sanctioned_change(kind: str) -> Iterator[CursorWrapper]:
    """A transaction (or savepoint) in which audit_logs' trigger accepts the change `kind`
    ('gdpr_anonymisation' or 'retention_purge') and nothing else; the setting ends with it."""
    using = audit_database()
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT set_config('apextrade.audit_change', %s, true)", [kind])
        yield cursor
        # On an error, rolling back the transaction or savepoint undoes the setting.
        cursor.execute("SELECT set_config('apextrade.audit_change', '', true)")


@dataclass(frozen=True)
class ChainBreak:
    audit_log_id: int | None
    chain_seq: int | None
    problem: str


@dataclass(frozen=True)
class ChainReport:
    rows: int
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


# One pass over audit_logs in chain order: each row's link to the row before it (or, for the first
# row, to the genesis hash or to where the last retention purge re-anchored the chain), its
# row_hash, and its content against the sealed hash or the latest anchor of a sanctioned change.
_VERIFY = """
WITH anchored AS (
    SELECT DISTINCT ON (audit_log_id) audit_log_id, content_hash
    FROM audit_chain_anchors
    WHERE kind <> 'retention_purge'
    ORDER BY audit_log_id, id DESC
),
purge AS (
    SELECT chain_seq, prev_hash FROM audit_chain_anchors
    WHERE kind = 'retention_purge' ORDER BY id DESC LIMIT 1
),
chain AS (
    SELECT a.id, a.chain_seq, a.prev_hash, a.row_hash, a.content_hash,
           sha256(audit_log_content(a)) AS actual,
           lag(a.row_hash) OVER w AS before_hash,
           lag(a.chain_seq) OVER w AS before_seq,
           row_number() OVER w AS n
    FROM audit_logs a
    WINDOW w AS (ORDER BY a.chain_seq NULLS FIRST, a.id)
),
checked AS (
    SELECT c.id, c.chain_seq, c.n,
        CASE
            WHEN c.chain_seq IS NULL OR c.row_hash IS NULL OR c.prev_hash IS NULL
                 OR c.content_hash IS NULL
                THEN 'a row outside the chain (inserted around its trigger)'
            WHEN c.n = 1 AND NOT (
                    (c.chain_seq = 1 AND c.prev_hash = %(genesis)s)
                    OR (c.chain_seq, c.prev_hash) = (p.chain_seq, p.prev_hash))
                THEN 'the first row links neither to the start nor to the last retention purge'
            WHEN c.n > 1 AND c.chain_seq <> c.before_seq + 1
                THEN 'rows missing before this one'
            WHEN c.n > 1 AND c.prev_hash <> c.before_hash
                THEN 'its link to the row before does not match'
            WHEN c.row_hash <> sha256(c.prev_hash || c.content_hash)
                THEN 'its row hash does not match its link and content hash'
            WHEN c.actual <> c.content_hash AND c.actual IS DISTINCT FROM an.content_hash
                THEN 'its content was changed'
        END AS problem
    FROM chain c
    LEFT JOIN anchored an ON an.audit_log_id = c.id
    LEFT JOIN purge p ON true
)
SELECT id, chain_seq, problem FROM checked WHERE problem IS NOT NULL ORDER BY n LIMIT 1
"""


def verify_audit_chain() -> ChainReport:
    """Check the whole chain; report the first broken link (in chain order), if any."""
    with connections[audit_database()].cursor() as cursor:
        cursor.execute(_VERIFY, {"genesis": GENESIS})
        first_break = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM audit_logs")
        (total,) = cursor.fetchone()
        cursor.execute("SELECT seq, row_hash FROM audit_chain_head WHERE id = 1")
        head_seq, head_hash = cursor.fetchone()
        cursor.execute(
            "SELECT chain_seq, row_hash FROM audit_logs "
            "WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1"
        )
        last = cursor.fetchone()
    if first_break is not None:
        return ChainReport(total, ChainBreak(*first_break))
    if (last and (last[0], bytes(last[1])) != (head_seq, bytes(head_hash))) or (
        not last and head_seq and not _purged_to(head_seq)
    ):
        return ChainReport(
            total, ChainBreak(None, head_seq, "rows missing at the end (the head is further on)")
        )
    return ChainReport(total, None)


def _purged_to(seq: int) -> bool:
    return AuditChainAnchor.objects.filter(
        kind=AuditChainAnchor.Kind.RETENTION_PURGE, chain_seq__gt=seq
    ).exists()
