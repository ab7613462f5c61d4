"""Alert evaluation benchmark: 100,000 active alerts over 500 symbols, checked per price update.

Usage:
    .venv/bin/python bench/alerts.py                  # seeds the alerts once, then measures
    .venv/bin/python bench/alerts.py --updates 500
    .venv/bin/python bench/alerts.py --drop           # delete the bench alerts afterwards

What is timed, per price update of one symbol: `accounts.alerts.evaluate_alerts` (expire, re-arm
and fire: three statements through idx_alerts_active, in one transaction), with the price moved
±2% from the previous one so that crossings happen. Each update is rolled back afterwards, so
every update sees the same 100,000 armed alerts (the worst case: nothing has fired yet).

Baseline, measured in the same run: the loop a first implementation would write — load the
armed alerts of every symbol (no index on the symbol used), compare each in Python, save the
ones that fire one by one. The ratio baseline / indexed is what bench/README.md records, since
absolute times depend on the machine's load.
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apextrade.settings.dev")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.alerts import MarketUpdate, Reading, evaluate_alerts  # noqa: E402
from accounts.models import Alert, User  # noqa: E402

SYMBOL_COUNT = 500
ALERTS = 100_000
BENCH_EMAIL = "alerts-bench@apextrade.local"


def symbol(n: int) -> str:
    letters = "".join(chr(ord("A") + (n // 26**k) % 26) for k in range(3))
    return f"BA{letters}/USDT"


SEED_SQL = """
INSERT INTO alerts (user_id, symbol, alert_type, condition, threshold, is_recurring)
SELECT %(user)s,
       'BA' || chr(65 + (i %% %(symbols)s) %% 26) || chr(65 + ((i %% %(symbols)s) / 26) %% 26)
            || chr(65 + ((i %% %(symbols)s) / 676) %% 26) || '/USDT',
       (ARRAY['price', 'price', 'price', 'change_pct'])[1 + (i / 7) %% 4],
       (ARRAY['above', 'below', 'crosses_above', 'crosses_below', 'equals'])[1 + i %% 5],
       round((100 * (1 + 0.2 * sin(i * 12.9898)))::numeric, 8),
       (i %% 3 = 0)
FROM generate_series(0, %(alerts)s - 1) AS i
"""


def seed() -> User:
    user, _ = User.objects.get_or_create(email=BENCH_EMAIL, defaults={"first_name": "Bench"})
    if Alert.objects.filter(user=user, is_active=True, is_triggered=False).count() == ALERTS:
        return user
    Alert.objects.filter(user=user).delete()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(SEED_SQL, {"user": user.pk, "symbols": SYMBOL_COUNT, "alerts": ALERTS})
        cursor.execute("ANALYZE alerts")
    print(
        f"seeded {ALERTS:,} alerts over {SYMBOL_COUNT} symbols in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return user


def holds(condition: str, threshold: Decimal, current: Decimal, previous: Decimal) -> bool:
    if condition == "above":
        return current > threshold
    if condition == "below":
        return current < threshold
    if condition == "crosses_above":
        return previous <= threshold < current
    if condition == "crosses_below":
        return previous >= threshold > current
    return current == threshold or min(previous, current) < threshold < max(previous, current)


def naive(update: MarketUpdate) -> int:
    """The baseline: every armed alert loaded, compared in Python, saved one by one."""
    fired = 0
    for alert in Alert.objects.filter(is_active=True, is_triggered=False):
        if alert.symbol != update.symbol or alert.alert_type != "price":
            continue
        if holds(alert.condition, alert.threshold, update.price.current, update.price.previous):
            alert.is_triggered = True
            alert.triggered_at = update.at
            alert.save(update_fields=["is_triggered", "triggered_at"])
            fired += 1
    return fired


class Rollback(Exception):
    pass


def timed(work, update: MarketUpdate) -> tuple[float, int]:
    started = time.perf_counter()
    result = 0
    try:
        with transaction.atomic():
            result = work(update)
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return elapsed, result


def updates(count: int, rng: random.Random) -> list[MarketUpdate]:
    out = []
    now = timezone.now()
    for i in range(count):
        previous = Decimal(str(round(rng.uniform(80, 120), 4)))
        current = (previous * Decimal(str(1 + rng.uniform(-0.02, 0.02)))).quantize(
            Decimal("0.0001")
        )
        out.append(
            MarketUpdate(
                symbol=symbol(rng.randrange(SYMBOL_COUNT)),
                at=now + dt.timedelta(seconds=i),
                price=Reading(current, previous),
                change_pct=Reading(Decimal(str(round(rng.uniform(-5, 5), 4))), Decimal("0")),
            )
        )
    return out


def summary(name: str, times: list[float], fired: list[int]) -> float:
    times_ms = sorted(t * 1000 for t in times)
    p50 = statistics.median(times_ms)
    p95 = times_ms[int(len(times_ms) * 0.95) - 1]
    print(
        f"{name}: p50 {p50:.2f} ms, p95 {p95:.2f} ms, max {times_ms[-1]:.2f} ms over "
        f"{len(times)} updates; {statistics.mean(fired):.1f} alerts fired per update"
    )
    return p50


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--baseline-updates", type=int, default=20)
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()
    user = seed()
    rng = random.Random(11)
    per_symbol = ALERTS // SYMBOL_COUNT
    print(
        f"{Alert.objects.filter(is_active=True, is_triggered=False).count():,} armed alerts, "
        f"about {per_symbol} per symbol"
    )
    indexed = [timed(evaluate_alerts, u) for u in updates(args.updates, rng)]
    indexed_p50 = summary(
        "indexed (evaluate_alerts)", [t for t, _ in indexed], [len(r) for _, r in indexed]
    )
    baseline = [timed(naive, u) for u in updates(args.baseline_updates, rng)]
    baseline_p50 = summary(
        "baseline (load all, loop)", [t for t, _ in baseline], [r for _, r in baseline]
    )
    print(
        f"ratio: baseline p50 / indexed p50 = {baseline_p50 / indexed_p50:.0f}x; "
        f"target: < 200 ms per update (p95)"
    )
    if args.drop:
        Alert.objects.filter(user=user).delete()
        user.delete()


if __name__ == "__main__":
    main()
