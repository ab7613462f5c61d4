"""Bulk candle loading: rows are checked as they stream past, COPYed into a temporary staging
table, then moved into `ohlcv` with `INSERT ... ON CONFLICT (time, symbol, timeframe) DO UPDATE`,
so loading the same file twice changes nothing. (The first load of a series, which nothing can
conflict with, is COPYed straight into ohlcv: see load_candles.)

Everything happens in one transaction on the `timeseries` database: a file with bad rows writes
nothing unless `skip_invalid` is set, in which case the good rows are written and the bad ones
reported. Duplicate timestamps inside the file surface when the rows reach `ohlcv` (the unique
key refuses them) and are then looked up in the staging table by line.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import psycopg
from django.db import DatabaseError, connections, transaction

from marketdata.ingest.files import Row
from marketdata.retention import OHLCV_RETENTION
from marketdata.timeframes import Timeframe

TIMESERIES = "timeseries"
PRICE_LIMIT = 1e10  # NUMERIC(18,8)
VOLUME_LIMIT = 1e16  # NUMERIC(24,8)
EPOCH_MILLISECONDS_FROM = 10**11  # 10**11 s is the year 5138; 10**11 ms is 1973
MAX_REPORTED = 1000
BATCH = 20_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

STAGING_SQL = """
CREATE TEMPORARY TABLE ohlcv_staging (
    line bigint NOT NULL,
    time timestamptz NOT NULL,
    open numeric NOT NULL,
    high numeric NOT NULL,
    low numeric NOT NULL,
    close numeric NOT NULL,
    volume numeric NOT NULL
) ON COMMIT DROP
"""
MOVE_SQL = """
INSERT INTO ohlcv AS o (time, symbol, timeframe, open, high, low, close, volume, source)
SELECT time, %(symbol)s, %(timeframe)s, open, high, low, close, volume, %(source)s
FROM ohlcv_staging
"""
UPSERT_SQL = (
    MOVE_SQL
    + """
ON CONFLICT (time, symbol, timeframe) DO UPDATE SET
    open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
    volume = EXCLUDED.volume, source = EXCLUDED.source
WHERE (o.open, o.high, o.low, o.close, o.volume, o.source)
    IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close,
                      EXCLUDED.volume, EXCLUDED.source)
"""
)
DUPLICATES_SQL = """
SELECT line, first_line FROM (
    SELECT line, min(line) OVER (PARTITION BY time) AS first_line FROM ohlcv_staging
) d WHERE line <> first_line ORDER BY line
"""


@dataclass
class BadRow:
    line: int
    reason: str


@dataclass
class LoadReport:
    rows_read: int = 0
    rows_valid: int = 0
    rows_written: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_count: int = 0
    earliest: datetime | None = None
    latest: datetime | None = None
    seconds_loading: float = 0.0
    # The hourly buckets of the 1m candles written, when the load computed them (bulk_copy):
    # (bucket, open, high, low, close, volume, candle_count), for rollups.materialize_hourly.
    hourly_rows: list[tuple] | None = None

    @property
    def rows_unchanged(self) -> int:
        return self.rows_valid - self.rows_written

    def reject(self, line: int, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad_rows) < MAX_REPORTED:
            self.bad_rows.append(BadRow(line, reason))


class RowsRejected(Exception):
    """Bad rows were found and `skip_invalid` is off: the transaction is rolled back."""

    def __init__(self, report: LoadReport) -> None:
        super().__init__(f"{report.bad_count} bad row(s)")
        self.report = report


def parse_time(value: object) -> datetime:
    """ISO 8601 (a naive time is UTC), epoch seconds or epoch milliseconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = _from_epoch(str(value))
    else:
        text = str(value).strip()
        if text[:1].isdigit() and text.replace(".", "", 1).isdigit():
            moment = _from_epoch(text)
        else:
            moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _from_epoch(text: str) -> datetime:
    whole, _, fraction = text.partition(".")
    number = int(whole)
    if number >= EPOCH_MILLISECONDS_FROM:
        return EPOCH + timedelta(milliseconds=number)
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return EPOCH + timedelta(seconds=number, microseconds=micros)


# The float check below decides a row on its own only where floats cannot disagree with what
# PostgreSQL stores (NUMERIC rounded half away from zero to 8 decimals): every price below 2**26
# (where a float still tells values 1e-8 apart), a volume well inside NUMERIC(24,8), and every
# pair of compared values either written identically or at least NEAR apart. Any other row
# (ties, more than 8 decimals, huge numbers) is decided in Decimal, as PostgreSQL will.
FLOAT_EXACT_BELOW = 2.0**26
VOLUME_FAST_BELOW = 1e15
NEAR = 2e-8
EIGHT_DECIMALS = Decimal("1e-8")


def _as_stored(text: object) -> Decimal:
    value = Decimal(str(text).strip())
    if not value.is_finite():
        raise InvalidOperation
    return value.quantize(EIGHT_DECIMALS, rounding=ROUND_HALF_UP)


def candle_problem(o: object, h: object, lo: object, c: object, v: object) -> str | None:
    """Why PostgreSQL would refuse the row once its values are rounded to 8 decimals, or None."""
    try:
        do, dh, dl, dc, dv = (_as_stored(x) for x in (o, h, lo, c, v))
    except (InvalidOperation, ValueError):
        return "a price or the volume is not a finite number"
    if max(abs(do), abs(dh), abs(dl), abs(dc)) >= PRICE_LIMIT:
        return f"a price is out of range (at most {PRICE_LIMIT:.0e})"
    if dv < 0:
        return "negative volume"
    if dv >= VOLUME_LIMIT:
        return f"volume out of range (at most {VOLUME_LIMIT:.0e})"
    if dh < dl:
        return "high < low"
    if not dl <= do <= dh:
        return "open outside [low, high]"
    if not dl <= dc <= dh:
        return "close outside [low, high]"
    return None


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def boundary_check(timeframe: str) -> Callable[[datetime], bool]:
    """Whether a candle time starts a bucket of `timeframe` (a 1m candle at 00:00:30 does not,
    nor an 8-digit date read as epoch seconds): such a row would be counted in the wrong bucket."""
    frame = Timeframe.parse(timeframe)
    if frame.width == timedelta(minutes=1):
        return lambda moment: moment.second == 0 and moment.microsecond == 0
    return lambda moment: frame.floor(moment.astimezone(UTC)) == moment


def _stage(
    cursor,
    rows: Iterable[Row],
    report: LoadReport,
    *,
    timeframe: str,
    into: dict | None = None,
    not_before: datetime | None = None,
    too_old: str = "",
) -> None:
    """Check each row and COPY the good ones, in batches, into the staging table or, with
    `into` (symbol, timeframe, source), straight into ohlcv.

    This loop is the import's Python cost per row, so it is written flat: text numbers go to
    PostgreSQL as they are (float() only checks them), times are re-serialized as ISO 8601.
    A row before `not_before` is refused with the reason `too_old`."""
    batch: list[str] = []
    append = batch.append
    fromisoformat = datetime.fromisoformat
    earliest = latest = None
    read = 0
    on_boundary = boundary_check(timeframe)
    if into is None:
        copy_sql = "COPY ohlcv_staging (line, time, open, high, low, close, volume) FROM STDIN"
        suffix = None
    else:
        copy_sql = (
            "COPY ohlcv (time, open, high, low, close, volume, symbol, timeframe, source) "
            "FROM STDIN"
        )
        suffix = "\t".join(_copy_text(into[k]) for k in ("symbol", "timeframe", "source"))
    with cursor.copy(copy_sql) as copy:
        for line, time_value, o, h, lo, c, v in rows:
            read += 1
            if time_value is None:
                report.reject(line, "missing columns")
                continue
            try:
                if type(time_value) is str and not time_value.isdigit():
                    moment = fromisoformat(time_value)
                    if moment.tzinfo is None:
                        moment = moment.replace(tzinfo=UTC)
                else:
                    moment = parse_time(time_value)
            except (ValueError, OverflowError, TypeError):
                try:
                    moment = parse_time(time_value)
                except (ValueError, OverflowError, TypeError):
                    report.reject(line, f"unparseable time {str(time_value)[:40]!r}")
                    continue
            if not on_boundary(moment):
                report.reject(line, f"time {moment.isoformat()} is not on a {timeframe} boundary")
                continue
            if not_before is not None and moment < not_before:
                report.reject(line, too_old)
                continue
            try:
                fo, fh, fl, fc, fv = float(o), float(h), float(lo), float(c), float(v)
            except (ValueError, TypeError):
                report.reject(line, "a price or the volume is not a number")
                continue
            if not (
                fl > -FLOAT_EXACT_BELOW
                and fh < FLOAT_EXACT_BELOW
                and 0 <= fv < VOLUME_FAST_BELOW
                and (fh - fo >= NEAR or o == h)
                and (fo - fl >= NEAR or o == lo)
                and (fh - fc >= NEAR or c == h)
                and (fc - fl >= NEAR or c == lo)
            ):
                problem = candle_problem(o, h, lo, c, v)
                if problem is not None:
                    report.reject(line, problem)
                    continue
            text = f"{line}\t{moment.isoformat()}\t{o}\t{h}\t{lo}\t{c}\t{v}\n"
            if (
                not text.isascii()
                or "_" in text
                or text.count("\t") != 6
                or text.count("\n") != 1
                or "\\" in text
                or "\r" in text
                or "\x0b" in text
                or "\x0c" in text
            ):
                # float() takes 1_000, non-ASCII digits and spaces, and surrounding tabs or
                # carriage returns; PostgreSQL's numeric (and COPY) does not.
                report.reject(line, "a price or the volume is not a number")
                continue
            if earliest is None or moment < earliest:
                earliest = moment
            if latest is None or moment >= latest:
                latest = moment
            append(text if suffix is None else f"{text.partition(chr(9))[2][:-1]}\t{suffix}\n")
            if len(batch) >= BATCH:
                copy.write("".join(batch))
                batch.clear()
        if batch:
            copy.write("".join(batch))
    report.rows_read = read
    report.rows_valid = read - report.bad_count
    report.earliest, report.latest = earliest, latest


def too_old_reason(not_before: datetime | None) -> str:
    """Why a 1m candle before `not_before` (ohlcv's retention horizon) is refused."""
    if not_before is None:
        return ""
    return (
        f"1m candles before {not_before:%Y-%m-%d %H:%M} UTC are past ohlcv's retention horizon "
        f"({OHLCV_RETENTION}) and would be deleted; import history that old at 1h or 1d"
    )


def _sqlstate(error: Exception) -> str | None:
    """The SQLSTATE of a psycopg error, raw (as from COPY) or wrapped by Django."""
    return getattr(error, "sqlstate", None) or getattr(error.__cause__, "sqlstate", None)


class NeedsRowPath(Exception):
    """A bulk load found something that only the row-by-row path decides."""


# A faster way in for a first load (marketdata.ingest.bulk_copy): (raw psycopg cursor,
# not_before) -> the load's report; raises NeedsRowPath to give the rows to the general path.
BulkLoad = Callable[[psycopg.Cursor, datetime | None], LoadReport]


def load_candles(
    rows: Callable[[], Iterable[Row]],
    *,
    symbol: str,
    timeframe: str,
    source: str,
    skip_invalid: bool = False,
    not_before: datetime | None = None,
    bulk: BulkLoad | None = None,
    using: str = TIMESERIES,
) -> LoadReport:
    """Load the rows that `rows()` yields into `ohlcv` inside the caller's transaction (or one
    of its own). `rows` is called again if the first way in has to be abandoned.

    The general path: COPY into a staging table, then INSERT ... ON CONFLICT (time, symbol,
    timeframe) DO UPDATE (a plain INSERT when nothing stored overlaps the file's range). A series
    with no stored candles at all cannot conflict, so its rows are COPYed straight into ohlcv,
    which takes about half the time; a duplicate timestamp inside the file makes that COPY fail
    and the load start over on the general path, which finds and reports the duplicates.

    Rows before `not_before` are bad rows (1m candles past ohlcv's retention horizon).

    `bulk`, when given, is tried first for such a first load (marketdata.ingest.bulk_copy: the
    same rows as binary COPY, checked in blocks); when it gives up (a bad row, anything unusual,
    a duplicate timestamp) its writes are rolled back and the rows go the way described above."""
    age_check = {"not_before": not_before, "too_old": too_old_reason(not_before)}
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        # One import per series at a time: what is checked below stays true until commit.
        lock = f"ohlcv:{symbol}:{timeframe}"
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [lock])
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM ohlcv WHERE symbol = %s AND timeframe = %s)",
            [symbol, timeframe],
        )
        if not cursor.fetchone()[0]:
            if bulk is not None:
                try:
                    with transaction.atomic(using=using):
                        return bulk(cursor.cursor, not_before)
                except NeedsRowPath:
                    pass
                except (DatabaseError, psycopg.Error) as error:
                    if _sqlstate(error) != "23505":  # a duplicate timestamp in the file
                        raise
            report = LoadReport()
            try:
                with transaction.atomic(using=using):
                    into = {"symbol": symbol, "timeframe": timeframe, "source": source}
                    _stage(
                        cursor.cursor, rows(), report, timeframe=timeframe, into=into, **age_check
                    )
                    if report.bad_count and not skip_invalid:
                        raise RowsRejected(report)
                    report.rows_written = report.rows_valid
                    return report
            except (DatabaseError, psycopg.Error) as error:
                if _sqlstate(error) != "23505":  # a duplicate timestamp in the file
                    raise
        return _load_through_staging(
            cursor, rows(), symbol=symbol, timeframe=timeframe, source=source,
            skip_invalid=skip_invalid, age_check=age_check, using=using,
        )  # fmt: skip


def _load_through_staging(
    cursor, rows: Iterable[Row], *, symbol, timeframe, source, skip_invalid, age_check, using
) -> LoadReport:
    report = LoadReport()
    params = {"symbol": symbol, "timeframe": timeframe, "source": source}
    # ON COMMIT DROP only helps at commit: a caller's longer transaction may load twice.
    cursor.execute("DROP TABLE IF EXISTS pg_temp.ohlcv_staging")
    cursor.execute(STAGING_SQL)
    _stage(cursor.cursor, rows, report, timeframe=timeframe, **age_check)
    if report.bad_count and not skip_invalid:
        _reject_duplicates(cursor, report)  # so that the report names every bad row
        raise RowsRejected(report)
    if not report.rows_valid:
        return report
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM ohlcv WHERE symbol = %s AND timeframe = %s "
        "AND time >= %s AND time <= %s)",
        [symbol, timeframe, report.earliest, report.latest],
    )
    overlaps = cursor.fetchone()[0]
    try:
        with transaction.atomic(using=using):
            cursor.execute(UPSERT_SQL if overlaps else MOVE_SQL, params)
            report.rows_written = cursor.rowcount
    except DatabaseError as error:
        # 23505: a duplicate met the unique key; 21000: ON CONFLICT met a row twice.
        if _sqlstate(error) not in ("23505", "21000"):
            raise
        duplicates = _reject_duplicates(cursor, report)
        if duplicates and not skip_invalid:
            raise RowsRejected(report) from error
        cursor.execute("DELETE FROM ohlcv_staging WHERE line = ANY(%s)", [duplicates])
        cursor.execute(UPSERT_SQL, params)
        report.rows_written = cursor.rowcount
    return report


def _reject_duplicates(cursor, report: LoadReport) -> list[int]:
    """Report the staged rows whose timestamp an earlier line already has; their lines."""
    cursor.execute(DUPLICATES_SQL)
    duplicates = cursor.fetchall()
    for line, first_line in duplicates:
        report.reject(line, f"duplicate timestamp (first at line {first_line})")
    report.bad_rows.sort(key=lambda bad: bad.line)
    report.rows_valid -= len(duplicates)
    return [line for line, _first_line in duplicates]
