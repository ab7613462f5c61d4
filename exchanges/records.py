"""What the adapter takes and returns: orders, balances and candles as plain dataclasses with
Decimal amounts, whichever exchange they come from."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class OrderRequest:
    """An order as the trades table describes it. `price` is the limit price (LIMIT, STOP_LIMIT),
    `trigger_price` the stop or target level (STOP_LOSS, TAKE_PROFIT, STOP_LIMIT)."""

    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    client_order_id: str
    price: Decimal | None = None
    trigger_price: Decimal | None = None


@dataclass(frozen=True)
class ExchangeOrder:
    """An order as the exchange reports it. `state` is ccxt's: open, closed, canceled, expired,
    rejected. `cost` is the filled quantity times the prices paid, in the quote currency;
    `commission` the fees charged in the quote currency (fees in other assets are not converted)."""

    order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    state: str
    amount: Decimal
    filled: Decimal
    average_price: Decimal | None
    cost: Decimal
    commission: Decimal
    updated_at: datetime | None


@dataclass(frozen=True)
class AssetBalance:
    free: Decimal
    used: Decimal
    total: Decimal


@dataclass(frozen=True)
class MarketRules:
    """What a market accepts, from the exchange's market listing: quantities are multiples of
    `quantity_step` (the lot or step size) and at least `min_quantity`; an order's value
    (quantity × price) is at least `min_notional`. `taker_fee` is the fraction the exchange's
    listing gives for a taking order (None when it gives none). None: no such limit listed."""

    symbol: str
    base: str
    quote: str
    quantity_step: Decimal | None
    min_quantity: Decimal | None
    min_notional: Decimal | None
    taker_fee: Decimal | None


@dataclass(frozen=True)
class Candle:
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def to_decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))
