"""Sizing a live order given by amount (a strategy's entry: `quote_quantity` = a share of the
cash) to what its market accepts. The strategy estimates the base quantity at its candle's close
(amount / close); an exchange takes only multiples of the market's lot (step) size, at least its
minimum quantity and its minimum order value. Pure functions: the market's rules come from the
exchange adapter (exchanges.client.ExchangeClient.market_rules).
"""

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from exchanges.records import MarketRules


class BelowMarketMinimum(Exception):
    """The amount buys less than the market's minimum; the message says which and by how much."""


@dataclass(frozen=True)
class FittedOrder:
    quantity: Decimal
    price: Decimal  # the price the amount was sized at
    notional: Decimal  # quantity × price


def round_down_to_step(quantity: Decimal, step: Decimal | None) -> Decimal:
    """The largest multiple of `step` not above `quantity` (the quantity itself without a step)."""
    if not step:
        return quantity
    return (quantity / step).to_integral_value(rounding=ROUND_DOWN) * step


def fit_order_by_amount(*, amount: Decimal, price: Decimal, rules: MarketRules) -> FittedOrder:
    """The base quantity that `amount` (quote currency) buys at `price` with the market's taker
    fee on top, rounded DOWN to the lot size, so that quantity × price × (1 + fee) never exceeds
    the amount at that price. BelowMarketMinimum when that quantity is zero, below the minimum
    quantity, or worth less than the minimum order value."""
    if amount <= 0 or price <= 0:
        raise ValueError("The amount and the price must be positive.")
    fee = rules.taker_fee or Decimal(0)
    quantity = round_down_to_step(amount / (price * (1 + fee)), rules.quantity_step)
    notional = quantity * price
    where = f"{rules.symbol}"
    if quantity <= 0:
        raise BelowMarketMinimum(
            f"{amount} {rules.quote} at {price} buys less than {where}'s lot size "
            f"{rules.quantity_step} {rules.base}."
        )
    if rules.min_quantity is not None and quantity < rules.min_quantity:
        raise BelowMarketMinimum(
            f"{amount} {rules.quote} at {price} buys {quantity} {rules.base}, below {where}'s "
            f"minimum quantity {rules.min_quantity.normalize()} {rules.base}."
        )
    if rules.min_notional is not None and notional < rules.min_notional:
        raise BelowMarketMinimum(
            f"{amount} {rules.quote} at {price} buys {quantity} {rules.base} worth "
            f"{notional.normalize()} {rules.quote}, below {where}'s minimum order value "
            f"{rules.min_notional.normalize()} {rules.quote}."
        )
    return FittedOrder(quantity=quantity, price=price, notional=notional)
