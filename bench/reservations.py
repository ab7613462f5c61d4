"""Reserved cash: what the stored sum (portfolios.reserved_cash, kept by triggers) costs against
deriving it from the open orders at every placement.

Usage:
    .venv/bin/python bench/reservations.py               # 0, 100 and 1,000 open orders
    .venv/bin/python bench/reservations.py --rounds 300

Runs in a throw-away database made by the test settings (migrated from scratch, dropped at the
end), so it needs no data and leaves none. For each number N of open LIMIT BUYs resting in one
paper portfolio, timed (CPU and wall, median of `--rounds`):

- `place+cancel`: `place_order` of one more LIMIT BUY (its reservation checked against the
  available cash and stored) and `cancel_order` (the trigger releases it): the whole write path,
  triggers on;
- the same with the three reservation triggers disabled (the cost of the triggers);
- `read stored`: the available cash as the stored column under the portfolio's lock (what
  placement does);
- `derive`: the alternative, SUM over the portfolio's open BUYs of remaining × price × (1 +
  commission) under the same lock.

bench/README.md records the ratios; absolute times depend on the machine's load.
"""

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "apextrade.settings.test"

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

TRIGGERS = (
    ("trades", "trades_reservation_ends_with_the_order"),
    ("trades", "portfolios_reserved_cash_follows_trades"),
    ("portfolios", "portfolios_reserved_cash_kept_by_trades"),
)
DERIVE_SQL = """
SELECT COALESCE(SUM((t.quantity - t.filled_quantity) * t.price * (1 + p.commission_pct)), 0)
FROM trades t JOIN portfolios p ON p.id = t.portfolio_id
WHERE t.portfolio_id = %s AND t.side = 'BUY' AND t.status IN ('pending', 'submitted', 'partial')
"""


def timed(action, rounds: int) -> tuple[float, float]:
    """Median CPU and wall milliseconds of `action` over `rounds`."""
    cpu, wall = [], []
    for _ in range(rounds):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        action()
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started_wall) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def set_triggers(enabled: bool) -> None:
    with connection.cursor() as cursor:
        for table, name in TRIGGERS:
            state = "ENABLE" if enabled else "DISABLE"
            cursor.execute(f"ALTER TABLE {table} {state} TRIGGER {name}")


def place_limit_buy(portfolio):
    from trading.orders import place_order

    return place_order(
        portfolio=portfolio,
        actor=portfolio.user,
        symbol="BTC/USDT",
        side="BUY",
        order_type="LIMIT",
        quantity=Decimal("1"),
        price=Decimal("50"),
    )


def measure(portfolio, rounds: int) -> tuple:
    from trading.models import Portfolio
    from trading.orders import cancel_order

    def place_and_cancel() -> None:
        cancel_order(trade=place_limit_buy(portfolio), actor=portfolio.user)

    def read_stored() -> None:
        with transaction.atomic():
            locked = Portfolio.objects.select_for_update().get(pk=portfolio.pk)
            _ = locked.available_cash

    def derive() -> None:
        with transaction.atomic():
            locked = Portfolio.objects.select_for_update().get(pk=portfolio.pk)
            with connection.cursor() as cursor:
                cursor.execute(DERIVE_SQL, [portfolio.pk])
                _ = locked.cash_balance - cursor.fetchone()[0]

    timed(place_and_cancel, 5)  # warm-up: connections, caches, plans
    write_on = timed(place_and_cancel, rounds)
    # Triggers off: cancelled orders keep their reservation from here on; the reads below
    # only read (the stored column) or count open orders (derive), so it does not matter.
    set_triggers(False)
    write_off = timed(place_and_cancel, rounds)
    set_triggers(True)
    return write_on, write_off, timed(read_stored, rounds * 4), timed(derive, rounds * 4)


def run(rounds: int, sizes: list[int]) -> None:
    from django.utils import timezone

    from marketdata.services import update_ticker
    from tests.factories import PortfolioFactory

    update_ticker(symbol="BTC/USDT", price=Decimal("100"), at=timezone.now(), origin="tick")
    rows = []
    for size in sizes:
        portfolio = PortfolioFactory(
            initial_balance=Decimal("10000000.00"),
            cash_balance=Decimal("10000000.00"),
            total_value=Decimal("10000000.00"),
        )
        for _ in range(size):
            place_limit_buy(portfolio)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE trades")
        rows.append((size, *measure(portfolio, rounds)))

    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f}; medians in ms, wall (CPU of this process)")
    print("open | place+cancel | no triggers | triggers cost | read stored | derive | ratio")
    for size, on, off, stored, derived in rows:
        print(
            f"{size:>5} | {on[1]:7.2f} ({on[0]:.2f}) | {off[1]:7.2f} ({off[0]:.2f}) "
            f"| {on[1] / off[1]:5.2f}x | {stored[1]:6.3f} | {derived[1]:6.3f} "
            f"| {derived[1] / stored[1]:5.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--sizes", default="0,100,1000")
    args = parser.parse_args()
    databases = setup_databases(
        verbosity=0, interactive=False, aliases={"default", "timeseries"}, serialized_aliases=set()
    )
    try:
        run(args.rounds, [int(size) for size in args.sizes.split(",")])
    finally:
        teardown_databases(databases, verbosity=0)


if __name__ == "__main__":
    main()
