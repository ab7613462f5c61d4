"""A bounded local cache of candle arrays: one memory-mapped `.npy` file per (database, symbol,
timeframe, window, data version) in a cache directory, least recently used evicted past a size
cap.

A strategy's author re-running it, and every optimisation worker, read the same series again and
again; a hit costs one version look-up and an mmap instead of the query. Entries are keyed by the
symbol's data version (marketdata.data_versions), which every write moves, so a write in between
is always seen: the new version misses and the old entries of the series are deleted as the new
one is stored. Files are written to a temporary name and renamed, so concurrent processes never
read half a file; eviction may delete a file another process has mapped, which Linux allows.

Settings: CANDLE_ARRAY_CACHE_DIR (default: `apextrade-candle-arrays` in the temp directory) and
CANDLE_ARRAY_CACHE_BYTES (default 2 GiB; 0 turns the cache off).
"""

import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connections

from marketdata.columnar import ARRAY_KEYS

DEFAULT_BYTES = 2 * 1024**3


def cache_dir() -> Path:
    configured = getattr(settings, "CANDLE_ARRAY_CACHE_DIR", None)
    return Path(configured or Path(tempfile.gettempdir()) / "apextrade-candle-arrays")


def cache_bytes() -> int:
    return int(getattr(settings, "CANDLE_ARRAY_CACHE_BYTES", DEFAULT_BYTES))


def _series_key(*, symbol: str, timeframe: str, using: str) -> str:
    database = connections[using].settings_dict
    identity = "|".join(
        str(part) for part in (database.get("HOST"), database.get("PORT"), database["NAME"], symbol)
    )
    # The timeframe stays readable; the rest is hashed (a symbol may hold '/').
    return f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}-{timeframe}"


def _entry_path(*, series: str, version: int, start: datetime, end: datetime) -> Path:
    window = hashlib.sha256(f"{start.isoformat()}|{end.isoformat()}".encode()).hexdigest()[:16]
    return cache_dir() / f"{series}.v{version}.{window}.npy"


def load(
    *, symbol: str, timeframe: str, start: datetime, end: datetime, version: int, using: str
) -> dict[str, np.ndarray] | None:
    """The cached arrays (read-only, memory-mapped), or None on a miss."""
    if cache_bytes() <= 0:
        return None
    series = _series_key(symbol=symbol, timeframe=timeframe, using=using)
    path = _entry_path(series=series, version=version, start=start, end=end)
    try:
        table = np.load(path, mmap_mode="r")
        os.utime(path)  # least recently used goes first
    except (FileNotFoundError, ValueError, OSError):
        return None
    arrays = {"time": table[0].view("datetime64[ns]")}
    for row, key in enumerate(ARRAY_KEYS[1:], start=1):
        arrays[key] = table[row].view(np.float64)
    return arrays


def store(
    arrays: dict[str, np.ndarray],
    *,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    version: int,
    using: str,
) -> None:
    """Keep `arrays` for the next load of the same window at the same version; drop the
    series' entries of older versions and evict past the size cap."""
    limit = cache_bytes()
    count = arrays["close"].shape[0]
    size = 6 * 8 * count
    if limit <= 0 or size > limit:
        return
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    series = _series_key(symbol=symbol, timeframe=timeframe, using=using)
    path = _entry_path(series=series, version=version, start=start, end=end)
    table = np.empty((6, count), dtype=np.int64)
    table[0] = arrays["time"].astype("datetime64[ns]").view(np.int64)
    for row, key in enumerate(ARRAY_KEYS[1:], start=1):
        table[row] = np.asarray(arrays[key], dtype=np.float64).view(np.int64)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.save(file, table)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        return
    for older in directory.glob(f"{series}.v*.npy"):
        if _version_of(older) < version:
            older.unlink(missing_ok=True)
    evict(limit=limit)


def _version_of(path: Path) -> int:
    try:
        return int(path.name.split(".")[1][1:])
    except (IndexError, ValueError):
        return -1


def evict(*, limit: int | None = None) -> int:
    """Delete least recently used entries until the directory holds at most `limit` bytes;
    returns how many files went."""
    limit = cache_bytes() if limit is None else limit
    entries = []
    for path in cache_dir().glob("*.npy"):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _mtime, size, _path in entries)
    removed = 0
    for _mtime, size, path in sorted(entries):
        if total <= limit:
            break
        path.unlink(missing_ok=True)
        total -= size
        removed += 1
    return removed
