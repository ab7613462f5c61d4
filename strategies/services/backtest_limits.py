"""What a user may start: a backtest's cost bounded before it is queued (bars × distinct
indicator series at most settings.BACKTEST_MAX_COST), at most BACKTEST_MAX_ACTIVE_PER_USER
pending or running backtests, and BACKTEST_STARTS_PER_HOUR starts an hour (a Redis counter under
`rate_limit:{user_id}:backtest_starts`). docs/api.md, "Limits", describes them for clients."""

import datetime as dt
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from accounts.models import User
from core.cache_keys import backtest_start_limit_key
from core.errors import LimitExceeded
from core.rate_limits import hit
from marketdata.timeframes import Timeframe
from strategies.models import Backtest
from strategies.rules.evaluate import indicator_keys

HOUR = 3600
# How long a client waits before starting again when too many of its backtests are active.
ACTIVE_RETRY_AFTER = 30
AVERAGE_MONTH = dt.timedelta(days=30.44)


def estimated_bars(timeframe: str, start_date: dt.date, end_date: dt.date) -> int:
    """Candles between the dates (both included whole) on a market open around the clock: an
    upper bound of what the run loads."""
    span = (end_date - start_date) + dt.timedelta(days=1)
    parsed = Timeframe.parse(timeframe)
    width = AVERAGE_MONTH * parsed.count if parsed.is_monthly else parsed.width
    return max(1, math.ceil(span / width))


def backtest_cost(rules: list[dict[str, Any]], bars: int) -> tuple[int, int]:
    """(cost, series): bars × the distinct indicator series of the rules (at least one, the
    prices themselves)."""
    series = len(set().union(*(indicator_keys(tree) for tree in rules if isinstance(tree, dict))))
    return bars * max(series, 1), series


def check_backtest_cost(
    *, timeframe: str, entry_rules: Any, exit_rules: Any, start_date: dt.date, end_date: dt.date
) -> None:
    """Raise a ValidationError saying how to shrink a backtest whose cost is over the ceiling."""
    limit = settings.BACKTEST_MAX_COST
    bars = estimated_bars(timeframe, start_date, end_date)
    cost, series = backtest_cost([entry_rules, exit_rules], bars)
    if cost <= limit:
        return
    days = (end_date - start_date).days + 1
    fitting_days = max(int(days * limit / cost), 0)
    fitting_series = limit // bars
    message = (
        f"This backtest is too large to run: about {bars:,} {timeframe} bars × "
        f"{max(series, 1)} distinct indicator series = {cost:,}, over the limit of {limit:,}. "
        f"Shorten the date range to at most {fitting_days} days, use a longer timeframe, "
    )
    if fitting_series >= 1:
        message += f"or use at most {fitting_series} distinct indicators over this range."
    else:
        message += "or both: this range has more bars than the limit allows even with one series."
    raise ValidationError({"non_field_errors": [message]})


def reserve_backtest_start(*, user: User) -> None:
    """Call inside the start's transaction. Locks the user's row, so that concurrent starts of
    one user count one after the other, and raises LimitExceeded (429) when the user has too
    many active backtests or has started too many this hour."""
    User.objects.select_for_update().filter(pk=user.pk).first()
    active = Backtest.objects.filter(
        user=user, status__in=[Backtest.Status.PENDING, Backtest.Status.RUNNING]
    ).count()
    most = settings.BACKTEST_MAX_ACTIVE_PER_USER
    if active >= most:
        raise LimitExceeded(
            f"You have {active} backtests pending or running; at most {most} at a time. Wait "
            "for one to finish or cancel one.",
            retry_after=ACTIVE_RETRY_AFTER,
        )
    started = hit(backtest_start_limit_key(user.pk), window=HOUR)
    per_hour = settings.BACKTEST_STARTS_PER_HOUR
    if started.count > per_hour:
        raise LimitExceeded(
            f"At most {per_hour} backtest starts an hour; try again in "
            f"{started.retry_after} seconds.",
            retry_after=started.retry_after,
        )
