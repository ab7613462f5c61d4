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


# Every row on its own, in one scan that PostgreSQL splits among its parallel workers (an
# aggregate: each worker returns one row, whatever the table's size): how many rows, the first
# row the insert trigger never saw (written with triggers off: no place in the chain), the first
# row whose row_hash does not match its link and sealed content hash, and the first row whose
# content matches neither its sealed hash nor, for a row changed by a sanctioned change, the
# content hash its latest anchor recorded. '' stands for "no anchor": no SHA-256 equals it.
_EACH_ROW = """
SELECT
    count(*),
    min(a.id) FILTER (WHERE a.chain_seq IS NULL OR a.row_hash IS NULL OR a.prev_hash IS NULL
                      OR a.content_hash IS NULL),
    min(a.chain_seq) FILTER (WHERE a.row_hash <> sha256(a.prev_hash || a.content_hash)),
    min(a.chain_seq) FILTER (WHERE sha256(audit_log_content(a))
                             <> ALL (ARRAY[a.content_hash, coalesce(anchor.content_hash, '')]))
FROM audit_logs a
LEFT JOIN (
    SELECT DISTINCT ON (audit_log_id) audit_log_id, content_hash FROM audit_chain_anchors
    WHERE kind <> 'retention_purge' AND audit_log_id IS NOT NULL
    ORDER BY audit_log_id, id DESC
) anchor ON anchor.audit_log_id = a.id
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

ROW_HASH_BROKEN = "its row hash does not match its link and content hash"
CONTENT_CHANGED = "its content was changed"


def verify_audit_chain() -> ChainReport:
    """Check the whole chain; report the first broken link (in chain order), if any."""
    using = audit_database()
    own_transaction = not connections[using].in_atomic_block
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        if own_transaction:  # one snapshot for the passes below
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # JIT compiling these expressions costs more than it saves.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_EACH_ROW)
        total, outside, row_hash_seq, content_seq = cursor.fetchone()
        if outside is not None:
            return ChainReport(
                total,
                ChainBreak(outside, None, "a row outside the chain (inserted around its trigger)"),
            )
        # The first break in chain order; at one position, a broken link is named before a
        # broken row hash, and that before changed content.
        breaks = []
        cursor.execute(_LINKS, {"genesis": GENESIS})
        found = cursor.fetchone()
        if found is not None:
            breaks.append(ChainBreak(*found))
        for seq, problem in ((row_hash_seq, ROW_HASH_BROKEN), (content_seq, CONTENT_CHANGED)):
            if seq is not None:
                cursor.execute("SELECT id FROM audit_logs WHERE chain_seq = %s", [seq])
                breaks.append(ChainBreak(cursor.fetchone()[0], seq, problem))
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
