"""Reading candle times: epoch numbers in a given unit or one told by their size, ISO 8601 texts
and datetimes with an offset, and naive ones only with a time zone (refused otherwise, never
guessed). A time that cannot be read comes back as a text, which the loader reports as an
unparseable time on its line."""

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from marketdata.ingest.files import FileFormatError, Row

TIME_UNITS = ("s", "ms", "us", "ns")
_PER_SECOND = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}
NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NaiveTimeError(FileFormatError):
    """A time without a UTC offset and no --timezone to place it."""


def epoch_unit(number: int) -> str:
    """The unit an epoch number is most likely in, by its size: 10**11 seconds is the year 5138,
    10**11 milliseconds 1973 (and likewise for microseconds and nanoseconds)."""
    number = abs(number)
    if number < 10**11:
        return "s"
    if number < 10**14:
        return "ms"
    if number < 10**17:
        return "us"
    return "ns"


def time_reader(*, unit: str | None = None, zone: tzinfo | None = None) -> Callable[[Any], Any]:
    """A function from a time as a file holds it to an aware datetime.

    Epoch numbers are in `unit` (guessed per value by size when None); ISO 8601 texts and
    datetimes keep their offset; naive ones are placed in `zone`, and without a zone raise
    NaiveTimeError rather than be guessed. What cannot be read comes back as a text, which the
    loader reports as an unparseable time on that line."""
    fromtimestamp = datetime.fromtimestamp
    fromisoformat = datetime.fromisoformat

    def from_epoch(text: str) -> datetime | str:
        whole, _, fraction = text.partition(".")
        number = int(whole)
        per_second = _PER_SECOND[unit or epoch_unit(number)]
        try:
            if fraction.strip("0"):
                micros = Decimal(text) * 1_000_000 / per_second
                if micros != micros.to_integral_value():
                    raise ValueError  # finer than a microsecond: no candle starts there
                return EPOCH + timedelta(microseconds=int(micros))
            seconds, rest = divmod(number, per_second)
            moment = fromtimestamp(seconds, UTC)
            if rest:
                micros, finer = divmod(rest * 1_000_000, per_second)
                if finer:
                    raise ValueError
                moment += timedelta(microseconds=micros)
            return moment
        except (ValueError, OverflowError, OSError, InvalidOperation):
            return f"{text} in {unit}" if unit else text

    def place(moment: datetime, text: object) -> datetime:
        if moment.tzinfo is not None:
            return moment
        if zone is None:
            raise NaiveTimeError(str(text))
        if zone is UTC:
            return moment.replace(tzinfo=UTC)
        return moment.replace(tzinfo=zone).astimezone(UTC)

    fixed = _PER_SECOND[unit] if unit else None

    def read(value: Any) -> Any:
        if type(value) is str:
            if value.isdigit() and value.isascii():  # the common epoch case, kept short
                number = int(value)
                seconds, rest = divmod(number, fixed or _PER_SECOND[epoch_unit(number)])
                if not rest and seconds < 253_402_300_800:  # before the year 10000
                    return fromtimestamp(seconds, UTC)
                return from_epoch(value)
            try:
                moment = fromisoformat(value)
            except ValueError:
                text = value.strip()
                if NUMBER.fullmatch(text):
                    return from_epoch(text)
                try:
                    moment = fromisoformat(text)
                except ValueError:
                    return value
                return place(moment, text)
            return moment if moment.tzinfo is not None else place(moment, value)
        if isinstance(value, datetime):
            return place(value, value)
        if isinstance(value, date):
            return place(datetime(value.year, value.month, value.day), value)
        if isinstance(value, int) and not isinstance(value, bool):
            return from_epoch(str(value))
        if isinstance(value, float) and value == value and abs(value) != float("inf"):
            return from_epoch(repr(value) if "e" not in repr(value) else f"{value:f}")
        return "" if value is None else str(value)

    return read


def with_times(
    rows: Iterable[Row], read_time: Callable[[Any], Any], *, name: str, line_offset: int = 0
) -> Iterator[Row]:
    """`rows` with their times read by `read_time` (see time_reader) and their line numbers
    moved by `line_offset`; a naive time without a time zone stops the file with a message that
    says where and what to do."""
    line = 0
    try:
        for line, moment, o, h, lo, c, v in rows:
            yield (
                line + line_offset,
                None if moment is None else read_time(moment),
                o,
                h,
                lo,
                c,
                v,
            )
    except NaiveTimeError as naive:
        raise NaiveTimeError(
            f"{name} line {line}: the time {str(naive)!r} has no UTC offset. Pass --timezone "
            "with the zone the file's times are in (--timezone UTC if they are UTC); "
            "they are not guessed."
        ) from None
