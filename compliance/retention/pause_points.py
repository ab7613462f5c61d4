"""Named points in the retention jobs where a test holds the job still, so that it can kill the
process at a known moment (tests/compliance/test_retention_crashes.py). Inert unless the settings
name a point: only the test settings do (RETENTION_PAUSE_AT from the environment); base and
production settings never define it."""

import time
from collections import Counter
from pathlib import Path

from django.conf import settings

_reached: Counter[str] = Counter()


def pause_point(name: str) -> None:
    """If RETENTION_PAUSE_AT is `name` (or `name:N`, the Nth time it is reached), write the name
    to RETENTION_PAUSE_FILE and sleep until the process is killed."""
    wanted = getattr(settings, "RETENTION_PAUSE_AT", "")
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] != int(nth or 1):
        return
    Path(settings.RETENTION_PAUSE_FILE).write_text(name)
    while True:
        time.sleep(3600)
