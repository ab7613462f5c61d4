"""What can go wrong talking to an exchange, as a handful of types callers can act on.

ccxt raises some sixty exception classes; callers need to know only whether an order was refused
(and why), whether its fate is unknown (a timeout: reconcile, never resend), whether to slow down,
and whether the key is at fault. Messages never contain a credential: see exchanges.redaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from exchanges.redaction import scrub

if TYPE_CHECKING:  # ccxt itself is imported on first use (exchanges.client: 64 MB, ~1 s)
    import ccxt


class ExchangeError(Exception):
    """Any failure of an exchange call not covered by a subclass."""


class UnsupportedExchange(ExchangeError):
    """The exchange is not one ccxt (or this adapter) can talk to."""


class ExchangeUnavailable(ExchangeError):
    """The exchange could not be reached or answered with a server error. For a request that
    places an order this means its fate is unknown, as for a timeout."""


class ExchangeTimeout(ExchangeUnavailable):
    """No answer within the timeout. An order request may or may not have been executed: look the
    order up by its client order id before doing anything else."""


class RateLimited(ExchangeError):
    """The exchange asks us to slow down (HTTP 429/418 or its own rate-limit codes)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationFailed(ExchangeError):
    """The exchange refused the key (invalid, revoked, IP not allowed, bad signature)."""


class PermissionMissing(ExchangeError):
    """The broker key lacks the permission the call needs (trading needs `trade`). Raised before
    anything is sent."""


class RequestRejected(ExchangeError):
    """The exchange refused the request as invalid (unknown market or timeframe, bad
    parameters)."""


class OrderRejected(RequestRejected):
    """The exchange refused the order (bad quantity or price, filter failure, market closed ...);
    nothing was placed."""


class InsufficientFunds(OrderRejected):
    """The account cannot pay for the order; nothing was placed."""


class DuplicateClientOrderId(ExchangeError):
    """An order with this client order id exists already: the first submission arrived. Look it
    up instead of sending again."""


class OrderNotFound(ExchangeError):
    """No order with that id (or client order id) on the exchange."""


def from_ccxt(
    error: ccxt.BaseError,
    *,
    exchange: str,
    secrets: Iterable[str],
    placing: bool,
    retry_after: float | None = None,
) -> ExchangeError:
    """Our exception for a ccxt one, its message scrubbed of `secrets`. `placing`: the call
    placed an order, so a refusal is an OrderRejected."""
    import ccxt

    message = scrub(f"{exchange}: {type(error).__name__}: {error}", secrets)
    if isinstance(error, ccxt.InsufficientFunds):
        return InsufficientFunds(message)
    if isinstance(error, ccxt.OrderNotFound):
        return OrderNotFound(message)
    if isinstance(error, ccxt.DuplicateOrderId):
        return DuplicateClientOrderId(message)
    if isinstance(error, ccxt.AuthenticationError):
        return AuthenticationFailed(message)
    if isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return RateLimited(message, retry_after=retry_after)
    if isinstance(error, ccxt.RequestTimeout):
        return ExchangeTimeout(message)
    if isinstance(error, ccxt.OperationFailed):
        return ExchangeUnavailable(message)
    if isinstance(error, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.OperationRejected):
        return OrderRejected(message) if placing else RequestRejected(message)
    if isinstance(error, ccxt.NotSupported):
        return UnsupportedExchange(message)
    return ExchangeError(message)
