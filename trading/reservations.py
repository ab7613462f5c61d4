"""What an open paper order holds back, so that no two orders spend the same cash or sell the
same units (docs/paper-trading.md, "Reserved cash").

A paper BUY reserves, at placement, the most its fill can cost: quantity × the worst price it can
fill at × (1 + commission), rounded up to the cent. Fills consume the reservation and release
what the filled part no longer needs; the database releases the rest when the order closes and
keeps portfolios.reserved_cash equal to the open orders' sum (the triggers of trading migration
`reserved_cash_for_open_orders`).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from django.db.models import F, Sum, Value
from django.db.models.functions import Coalesce

from trading.matching import SELL, takes_slippage
from trading.models import Portfolio, Trade

CENT = Decimal("0.01")
ZERO = Decimal("0")
OPEN_STATUSES = (Trade.Status.PENDING, Trade.Status.SUBMITTED, Trade.Status.PARTIAL)


def cents_up(value: Decimal) -> Decimal:
    """To the cent, rounded up: a reservation never falls short by a fraction of a cent."""
    return value.quantize(CENT, rounding=ROUND_CEILING)


def worst_buy_price(*, order_type: str, price: Decimal, portfolio: Portfolio) -> Decimal:
    """The highest price a BUY resting at `price` fills at: a limit (LIMIT, TAKE_PROFIT, a
    STOP_LIMIT's limit) at its price or better; a stop or market order at the price with
    slippage. A buy stop whose candle gaps above the stop fills higher still (at the open):
    that part is not reserved and comes out of the available cash at the fill."""
    if takes_slippage(order_type):
        return price * (Decimal(1) + portfolio.slippage_pct)
    return price


def buy_reservation(
    *, trade: Trade, portfolio: Portfolio, estimate: Decimal | None, quantity: Decimal
) -> Decimal:
    """The most a BUY of `quantity` can cost, commission included, to the cent (up). An order
    by amount reserves its amount (the fill's quantity is sized so that it costs no more);
    `estimate` is the price the order rests at (a MARKET order's: the ticker); a market order
    that waits for the next price without a known one reserves nothing."""
    if trade.quote_quantity is not None:
        return cents_up(trade.quote_quantity)
    if estimate is None:
        return ZERO
    worst = worst_buy_price(order_type=trade.order_type, price=estimate, portfolio=portfolio)
    return cents_up(quantity * worst * (Decimal(1) + portfolio.commission_pct))


def reservation_after_fill(
    *,
    trade: Trade,
    portfolio: Portfolio,
    reserved_before: Decimal,
    cost: Decimal,
    remaining_before: Decimal,
    remaining_after: Decimal,
) -> Decimal:
    """What a paper BUY still holds back after a fill that cost `cost`: the remaining quantity's
    reservation, never more than what the fill left of the order's reservation (a fill never
    takes more from the available cash than it costs beyond its own reservation). A fill below
    the limit frees the difference."""
    if remaining_after <= 0 or reserved_before <= 0:
        return ZERO
    left = max(reserved_before - cost, ZERO)
    if trade.price is None:  # a market order: in proportion to what remains
        needed = cents_up(reserved_before * remaining_after / remaining_before)
    else:
        needed = buy_reservation(
            trade=trade, portfolio=portfolio, estimate=trade.price, quantity=remaining_after
        )
    return min(left, needed)


def quantity_reserved_for_sale(*, portfolio: Portfolio, symbol: str) -> Decimal:
    """Units of `symbol` that the portfolio's open SELL orders have not sold yet (the caller
    holds the portfolio's lock, so no order opens or fills meanwhile)."""
    total = Trade.objects.filter(
        portfolio=portfolio, symbol=symbol, side=SELL, status__in=OPEN_STATUSES
    ).aggregate(total=Sum(F("quantity") - Coalesce(F("filled_quantity"), Value(ZERO))))["total"]
    return total or ZERO
