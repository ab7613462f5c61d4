"""Candles from the database to NumPy arrays with no Python object per row.

`COPY (query) TO STDOUT (FORMAT binary)` of (timestamptz, numeric × 5) is read straight from
libpq and decoded by NumPy as it arrives, vectorised over slices of CHUNK_ROWS rows (a slice fits
the CPU's caches and is decoded while the server sends the next; a million candles in one piece
took 0.25-0.3 s more and 290 MB of peak memory). A binary timestamptz is int64
microseconds since 2000-01-01 UTC. A binary NUMERIC is (ndigits, weight, sign, dscale) and
`ndigits` base-10000 digits, the value being Σ digit_k · 10000^(weight − k): prices and volumes
are sent as stored, so the server does no numeric → float8 conversion (which goes through text
and cost the load a third above the bare COPY), and each value is rebuilt as an exact integer of
1e-8 units and divided by 1e8 — one IEEE division of two exact doubles, so correctly rounded:
the float nearest the stored decimal, the same as float(Decimal) of the ORM's value. Values of
9 × 10^7 and more (units beyond 2^53, not exact in a double) are converted one by one through
Decimal. Measured against CSV COPY parsed by pyarrow and Arrow through adbc-driver-postgresql,
neither was clearly faster, and this path needs no further dependency (docs/timeseries.md).

Rows are variable-length (a numeric's length depends on its digits), so rows are found by
their fixed opening, field count 6 then the time's length 8, and accepted only if they chain
exactly: each row ends where the next begins and the last where the trailer begins. Anything
else (a NULL, a value with more than 8 decimals, NaN, those bytes inside a value) leaves the
decoder with None, and the caller reads the rows the slow way.
"""

from decimal import Decimal

import numpy as np

ARRAY_KEYS = ("time", "open", "high", "low", "close", "volume")
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\0"
_COPY_HEADER, _COPY_TRAILER = 19, 2
# PostgreSQL's epoch (2000-01-01 UTC) in microseconds since the Unix epoch.
_POSTGRES_EPOCH_US = 946_684_800_000_000
_NUMERIC_NEGATIVE = 0x4000
_UNITS = 10**8  # values are rebuilt as integers of 1e-8 units
_EXACT_UNITS = 2**53  # below this an integer is exact in a double
_BLOCK = 10  # words per numeric field read at once: length (2), ndigits, weight, sign,
# dscale, then up to 4 digits (a value below 10^8 with at most 8 decimals has no more)
_DIGIT_INDEX = np.arange(4)
# Digits laid out as for weight 1 are divided by this for weight 1, 0, -1, -2 (and -3: a 0).
_WEIGHT_DIVISOR = np.array([1, 10**4, 10**8, 10**12, 10**16], dtype=np.int64)


def empty_arrays() -> dict[str, np.ndarray]:
    arrays = {"time": np.empty(0, dtype="datetime64[ns]")}
    for key in ARRAY_KEYS[1:]:
        arrays[key] = np.empty(0, dtype=np.float64)
    return arrays


# Rows decoded at a time: the COPY's rows are decoded in slices of this many as they arrive,
# so a million candles never sit in one 112 MB buffer beside the decoder's temporaries (peak
# 290 MB above the arrays for a million rows in one piece).
CHUNK_ROWS = 1 << 16
_TRAILER = b"\xff\xff"


def copy_arrays(connection, sql: str, params: dict) -> dict[str, np.ndarray]:
    """Run `sql` (six columns: timestamptz, then five numeric) through a binary COPY on Django
    `connection` and decode it; the slower row path when the decoder declines."""
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params) as copy:
            parts = read_and_decode(cursor.cursor.connection.pgconn)
            if copy.read():  # the end of the COPY, as psycopg finishes it
                raise RuntimeError("binary COPY went on after its trailer")
        if parts is not None:
            if len(parts) == 1:
                return parts[0]
            return {key: np.concatenate([part[key] for part in parts]) for key in ARRAY_KEYS}
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    times = [row[0].replace(tzinfo=None) for row in rows]
    # float(Decimal) per value: correctly rounded, as the fast path.
    values = np.array([row[1:] for row in rows], dtype=np.float64).reshape(-1, 5)
    arrays = {"time": np.array(times, dtype="datetime64[ns]")}
    for position, key in enumerate(ARRAY_KEYS[1:]):
        arrays[key] = np.ascontiguousarray(values[:, position])
    return arrays


def read_and_decode(pgconn) -> list[dict[str, np.ndarray]] | None:
    """Read the COPY's messages straight from libpq up to and including the trailer, decoding
    every CHUNK_ROWS rows as they come: each slice is given the COPY's header and a trailer, so
    that it decodes as a COPY of its own. None when the decoder declines a slice (the COPY is
    still read to its end, the rest undecoded). Each message is one row; the trailer (int16 -1)
    comes alone in the last, or after the header in the first when there are no rows. (libpq
    directly was faster than psycopg's iteration on a loaded machine, slower on an idle one:
    0.63 against 0.55 s for a million rows; decoding as rows arrive makes up the difference.)"""
    get_copy_data = pgconn.get_copy_data
    size, chunk = get_copy_data(0)
    if size < 0:
        raise RuntimeError("binary COPY ended without its trailer")
    data = bytearray(chunk)
    if size == _COPY_HEADER + _COPY_TRAILER and chunk[-2:] == _TRAILER:
        decoded = decode_binary_rows(data)
        return None if decoded is None else [decoded]
    header = bytes(data[:_COPY_HEADER])
    parts: list[dict[str, np.ndarray]] = []
    declined = False
    rows = CHUNK_ROWS - 1  # the first message holds the header and the first row
    while True:
        for _ in range(rows):
            size, chunk = get_copy_data(0)
            if size <= _COPY_TRAILER:
                if size < 0:
                    raise RuntimeError("binary COPY ended without its trailer")
                data += chunk
                if chunk == _TRAILER:
                    decoded = None if declined else decode_binary_rows(data)
                    return None if decoded is None else [*parts, decoded]
                continue
            data += chunk
        if not declined:
            data += _TRAILER
            decoded = decode_binary_rows(data)
            if decoded is None:
                declined = True
            else:
                parts.append(decoded)
        data = bytearray(header)
        rows = CHUNK_ROWS


def decode_binary_rows(data: bytes | bytearray) -> dict[str, np.ndarray] | None:
    """Decode binary COPY rows of (timestamptz, numeric × 5) straight into arrays; None if the
    data is not laid out as expected, for the caller's slower path."""
    size = len(data)
    if size < _COPY_HEADER + _COPY_TRAILER or bytes(data[:11]) != _COPY_SIGNATURE:
        return None
    if bytes(data[-2:]) != _TRAILER:
        return None
    if size == _COPY_HEADER + _COPY_TRAILER:
        return empty_arrays()
    if not isinstance(data, bytearray):
        data = bytearray(data)
    data += bytes(2 * _BLOCK)  # room to read a whole block past the last value (taken off below)
    # The header is 19 bytes and every row an even number of bytes (2 + 12 + Σ 12 + 2 × ndigits),
    # so every 16-bit value of a row starts at an odd offset: one big-endian int16 view at
    # offset 1 reads them all (the int16 at byte offset p is words[(p - 1) // 2]), and an
    # overlapping view reads a field's block of words with one gather per row.
    words = np.frombuffer(data, dtype=">i2", offset=1, count=(size - 1) // 2 + _BLOCK)
    blocks = np.lib.stride_tricks.as_strided(
        words, shape=(len(words) - _BLOCK, _BLOCK), strides=(2, 2), writeable=False
    )
    arrays = _decode(words, blocks, last=(size - 1) // 2 - 1)
    del words, blocks  # the views hold the buffer, which cannot shrink while they exist
    del data[size:]
    return arrays


def _decode(words: np.ndarray, blocks: np.ndarray, *, last: int) -> dict[str, np.ndarray] | None:
    # Candidate rows: 6 fields, then the time's length (int32 8: words 0, 8). The same words
    # can occur inside a row (a close ending in digit 6, then a volume of 0): such candidates
    # are dropped, as they do not lie on the chain of rows from the first to the trailer.
    sixes = _positions_of_six(words[: last - 2])
    starts = sixes[(words[sixes + 1] == 0) & (words[sixes + 2] == 8)]
    if not len(starts) or starts[0] != (_COPY_HEADER - 1) // 2:
        return None
    for attempt in range(2):
        at = starts + 7
        valid = np.ones(len(starts), dtype=bool)
        fields = []
        for _key in ARRAY_KEYS[1:]:
            np.minimum(at, last, out=at)  # a false candidate may point anywhere
            # Only the positions are kept per field; its words are gathered again when it is
            # decoded, one field at a time (keeping five fields' gathered words and their
            # int64 digit counts and weights cost 180 MB of peak for a million rows).
            block = blocks[at]
            ndigits, weight, sign = block[:, 2], block[:, 3], block[:, 4]
            valid &= (block[:, 0] == 0) & (block[:, 1] == 8 + 2 * ndigits)
            valid &= ((sign & ~_NUMERIC_NEGATIVE) == 0) & (ndigits <= weight + 3)
            fields.append(at)
            at = at + 6 + ndigits
            del block, ndigits, weight, sign
        if np.array_equal(at[:-1], starts[1:]) and at[-1] == last:
            break
        if attempt:
            return None
        # Some candidates lie inside rows: follow the chain from the first (rare, so plain
        # Python over the candidates is fine), then decode the rows on it.
        position = {int(start): i for i, start in enumerate(starts)}
        ends, chain, i = at.tolist(), [], 0
        while i is not None:
            chain.append(i)
            if ends[i] == last:
                break
            i = position.get(ends[i])
        else:
            return None
        starts = starts[chain]
    if not valid.all():
        return None  # a NULL, NaN or infinity, or digits finer than 1e-8
    time = blocks[starts + 3, :4].astype(np.int64) & 0xFFFF
    time = (time[:, 0] << 48) | (time[:, 1] << 32) | (time[:, 2] << 16) | time[:, 3]
    arrays = {"time": ((time + _POSTGRES_EPOCH_US) * 1000).view("datetime64[ns]")}
    for key, at in zip(ARRAY_KEYS[1:], fields, strict=True):
        block = blocks[at]
        ndigits = block[:, 2].astype(np.int64)
        weight = block[:, 3].astype(np.int64)
        sign = block[:, 4]
        units = _units(block, ndigits, weight)
        values = units.astype(np.float64) / _UNITS
        values[sign == _NUMERIC_NEGATIVE] *= -1.0
        fast = weight <= 1  # below 10^8: at most 4 digits, units below 10^16 fit int64
        for i in np.flatnonzero(~(fast & (units < _EXACT_UNITS))):
            values[i] = _numeric_float(words, int(at[i]))
        arrays[key] = values
    return arrays


def _positions_of_six(words: np.ndarray, step: int = 1 << 22) -> np.ndarray:
    """np.flatnonzero(words == 6), a slice at a time (the whole comparison at once is a
    boolean array of half the buffer's size)."""
    found = [
        np.flatnonzero(words[offset : offset + step] == 6) + offset
        for offset in range(0, len(words), step)
    ]
    return np.concatenate(found) if found else np.empty(0, dtype=np.intp)


def _units(block: np.ndarray, ndigits: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Each value below 10^8 as integer units of 1e-8 (others: anything, decoded apart).

    A column's values mostly share their number of digits and weight (prices of one
    magnitude), so the commonest layout, taken from the first row, is summed with constant
    scales; the other rows take the general way, digits laid out as for weight 1 (the first
    counts 10^12 units), masked past ndigits and divided exactly down to their weight."""
    common = (ndigits == ndigits[0]) & (weight == weight[0])
    count, top = int(ndigits[0]), int(weight[0])
    units = np.zeros(len(block), dtype=np.int64)
    if 0 <= top + 2 <= 3 and count <= top + 3:
        for k in range(count):
            units += block[:, 6 + k].astype(np.int64) * 10000 ** (top + 2 - k)
        rest = np.flatnonzero(~common)
    else:
        rest = np.arange(len(block))
    if len(rest):
        digits = block[rest, 6:].astype(np.int64)
        digits[ndigits[rest, None] <= _DIGIT_INDEX] = 0
        scaled = digits[:, 0] * 10**12 + digits[:, 1] * 10**8 + digits[:, 2] * 10**4 + digits[:, 3]
        units[rest] = scaled // _WEIGHT_DIVISOR[np.clip(1 - weight[rest], 0, 4)]
    return units


def _numeric_float(words: np.ndarray, at: int) -> float:
    """One binary NUMERIC (length at word `at`) as float(Decimal): correctly rounded."""
    ndigits, weight, sign = int(words[at + 2]), int(words[at + 3]), int(words[at + 4])
    units = 0
    for k in range(ndigits):
        units += int(words[at + 6 + k]) * 10000 ** (weight - k + 2)
    return float(Decimal(-units if sign == _NUMERIC_NEGATIVE else units).scaleb(-8))
