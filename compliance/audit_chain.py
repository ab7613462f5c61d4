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


# Rows the insert trigger never saw (written with triggers off): they have no place in the chain.
_OUTSIDE = """
SELECT id FROM audit_logs
WHERE chain_seq IS NULL OR row_hash IS NULL OR prev_hash IS NULL OR content_hash IS NULL
ORDER BY id LIMIT 1
"""

# The links, in chain order along chain_seq's index (narrow columns, no sort): each row's
# prev_hash is the row_hash of the row before it, with no position skipped; the first row links
# to the start of the chain or to where the last retention purge re-anchored it.
_LINKS = """
WITH purge AS (
    SELECT chain_seq, prev_hash FROM audit_chain_anchors
    WHERE kind = 'retention_purge' ORDER BY id DESC LIMIT 1
)
SELECT s.id, s.chain_seq,
    CASE
        WHEN s.before_seq IS NULL THEN
            'the first row links neither to the start nor to the last retention purge'
        WHEN s.chain_seq <> s.before_seq + 1 THEN 'rows missing before this one'
        ELSE 'its link to the row before does not match'
    END
FROM (
    SELECT id, chain_seq, prev_hash,
           lag(row_hash) OVER w AS before_hash, lag(chain_seq) OVER w AS before_seq
    FROM audit_logs WHERE chain_seq IS NOT NULL
    WINDOW w AS (ORDER BY chain_seq)
) s
LEFT JOIN purge p ON true
WHERE CASE
    WHEN s.before_seq IS NULL THEN NOT (
        (s.chain_seq = 1 AND s.prev_hash = %(genesis)s)
        OR (s.chain_seq, s.prev_hash) = (p.chain_seq, p.prev_hash))
    ELSE s.chain_seq <> s.before_seq + 1 OR s.prev_hash <> s.before_hash
END
ORDER BY s.chain_seq LIMIT 1
"""

# Each row on its own (one scan, no order needed): its row_hash against its link and sealed
# content hash, and its content against the sealed hash or, for a row changed by a sanctioned
# change, the content hash its latest anchor recorded (looked up only for such rows).
_ROWS = """
SELECT x.id, x.chain_seq,
    CASE WHEN x.row_hash <> sha256(x.prev_hash || x.content_hash)
         THEN 'its row hash does not match its link and content hash'
         ELSE 'its content was changed' END
FROM (
    SELECT a.id, a.chain_seq, a.prev_hash, a.row_hash, a.content_hash,
           sha256(audit_log_content(a)) AS actual
    FROM audit_logs a WHERE a.chain_seq IS NOT NULL
    OFFSET 0
) x
WHERE x.row_hash <> sha256(x.prev_hash || x.content_hash)
   OR (x.actual <> x.content_hash
       AND x.actual IS DISTINCT FROM (
           SELECT an.content_hash FROM audit_chain_anchors an
           WHERE an.audit_log_id = x.id AND an.kind <> 'retention_purge'
           ORDER BY an.id DESC LIMIT 1))
ORDER BY x.chain_seq LIMIT 1
"""


def verify_audit_chain() -> ChainReport:
    """Check the whole chain; report the first broken link (in chain order), if any."""
    using = audit_database()
    own_transaction = not connections[using].in_atomic_block
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        if own_transaction:  # one snapshot for the passes below
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # JIT compiling these expressions costs more than it saves.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SELECT count(*) FROM audit_logs")
        (total,) = cursor.fetchone()
        cursor.execute(_OUTSIDE)
        outside = cursor.fetchone()
        if outside is not None:
            return ChainReport(
                total,
                ChainBreak(
                    outside[0], None, "a row outside the chain (inserted around its trigger)"
                ),
            )
        breaks = []
        for sql in (_LINKS, _ROWS):
            cursor.execute(sql, {"genesis": GENESIS})
            found = cursor.fetchone()
            if found is not None:
                breaks.append(ChainBreak(*found))
        if breaks:
            return ChainReport(total, min(breaks, key=lambda broken: broken.chain_seq))
        cursor.execute("SELECT seq, row_hash FROM audit_chain_head WHERE id = 1")
        head = cursor.fetchone()
        cursor.execute(
            "SELECT chain_seq, row_hash FROM audit_logs "
            "WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1"
        )
        last = cursor.fetchone()
    head_seq, head_hash = head if head else (0, GENESIS)
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
