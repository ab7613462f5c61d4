"""Market data tests run against the real `timeseries` test database, which goes through the same
mode detection as a real one: TimescaleDB when the server preloads the extension, plain
PostgreSQL otherwise. Tests marked `timescaledb` skip without the extension; tests marked
`plain_postgres` cover the beat-job machinery that only plain mode has."""

import itertools
import string

import pytest

from marketdata.timescale import timescaledb_enabled

TIMESCALE_MISSING = "timescaledb extension is not available in the timeseries database"
TIMESCALE_PRESENT = "plain PostgreSQL mode only: the timeseries database has TimescaleDB"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "plain_postgres: only for the timeseries database without TimescaleDB"
    )


@pytest.fixture(autouse=True)
def _mode_markers(request: pytest.FixtureRequest) -> None:
    wants_timescale = request.node.get_closest_marker("timescaledb") is not None
    wants_plain = request.node.get_closest_marker("plain_postgres") is not None
    if not (wants_timescale or wants_plain):
        return
    request.getfixturevalue("django_db_setup")
    with request.getfixturevalue("django_db_blocker").unblock():
        enabled = timescaledb_enabled()
    if wants_timescale and not enabled:
        pytest.skip(TIMESCALE_MISSING)
    if wants_plain and enabled:
        pytest.skip(TIMESCALE_PRESENT)


_SYMBOL_BASES = ("".join(x) for x in itertools.product(string.ascii_uppercase, repeat=4))


@pytest.fixture
def symbol() -> str:
    """A symbol no other test uses: rollup rows (unmanaged tables, continuous aggregates)
    outlive the flush between transactional tests."""
    return f"{next(_SYMBOL_BASES)}/TEST"
