"""The one JSON encoding of stored values, used by audit rows, GDPR exports and archives:
Decimal as a string (no float rounding), dates and times in ISO 8601, UUIDs as strings, bytes as
hex."""

import datetime as dt
import decimal
import json
import uuid
from typing import Any


def json_value(value: Any) -> Any:
    """`value` as something json.dumps writes without loss."""
    if isinstance(value, decimal.Decimal):
        return format(value, "f")  # positional: a zero at 8 places is "0.00000000", not "0E-8"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


class StoredValueEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        converted = json_value(o)
        if converted is o:
            return super().default(o)
        return converted


def dumps(value: Any) -> str:
    return json.dumps(value, cls=StoredValueEncoder, ensure_ascii=False, separators=(",", ":"))
