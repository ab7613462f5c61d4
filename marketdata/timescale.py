"""Which mode the `timeseries` database is in: TimescaleDB (hypertables, continuous aggregates,
policies) or plain PostgreSQL (the same tables, rollups and retention kept by beat jobs).

Trap: the extension's files can be installed without the library being preloaded. Then
`pg_available_extensions` lists timescaledb, yet `CREATE EXTENSION timescaledb` ends with a FATAL
that kills the connection. So the extension is only ever created when the server preloads it;
migration 0002 does that, with its own frozen copy of the check.
"""

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

TIMESERIES_DB = "timeseries"

_EXTENSION_STATE_SQL = """
SELECT
    EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'),
    EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),
    coalesce(current_setting('shared_preload_libraries', true), '') LIKE '%timescaledb%'
"""


def extension_state(connection: BaseDatabaseWrapper) -> tuple[bool, bool, bool]:
    """(installed in this database, available on the server, preloaded by the server)."""
    with connection.cursor() as cursor:
        cursor.execute(_EXTENSION_STATE_SQL)
        installed, available, preloaded = cursor.fetchone()
    return bool(installed), bool(available), bool(preloaded)


def timescaledb_enabled(using: str = TIMESERIES_DB) -> bool:
    """Run time: is the extension installed in this database? Cached on the open connection, so
    the answer is asked once per connection (a new connection asks again)."""
    connection = connections[using]
    connection.ensure_connection()
    raw = connection.connection
    cached = getattr(connection, "_apextrade_timescaledb", None)
    if cached is not None and cached[0] is raw:
        return cached[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
        enabled = bool(cursor.fetchone()[0])
    connection._apextrade_timescaledb = (raw, enabled)
    return enabled


def mode_name(using: str = TIMESERIES_DB) -> str:
    return "timescaledb" if timescaledb_enabled(using) else "plain"
