"""Mode detection: the extension counts only when it is installed, or the server preloads it. A
server that merely has its files must never be asked to CREATE EXTENSION (a FATAL there ends the
connection)."""

import pytest
from django.db import connections

from marketdata.timescale import extension_state, mode_name, timescaledb_enabled

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


def test_the_mode_follows_the_extension_in_the_test_database() -> None:
    installed, available, preloaded = extension_state(connections["timeseries"])

    assert timescaledb_enabled() is installed
    assert mode_name() == ("timescaledb" if installed else "plain")
    # The test database went through the same detection as a real one.
    assert installed == (available and preloaded)


def test_the_answer_is_cached_per_connection() -> None:
    first = timescaledb_enabled()
    connection = connections["timeseries"]

    assert connection._apextrade_timescaledb == (connection.connection, first)
    assert timescaledb_enabled() is first


@pytest.mark.plain_postgres
def test_plain_mode_connection_survives_detection() -> None:
    timescaledb_enabled()

    with connections["timeseries"].cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
