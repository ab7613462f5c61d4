"""Errors that services raise and every caller understands: the API maps them to HTTP answers in
one place (core.api_errors), the console and commands show their message."""

import redis
from django_redis.exceptions import ConnectionInterrupted

# What django-redis and redis-py raise when Redis is out of reach (sessions, sign-in attempts,
# used TOTP codes turn it into ServiceUnavailable; core.api_failures answers it with a 503).
REDIS_UNREACHABLE = (
    ConnectionInterrupted,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


class StateConflict(Exception):
    """The action does not fit the object's current state (a finished backtest cancelled, an
    order already filled): a 409 in the API."""


class LimitExceeded(Exception):
    """A per-user limit refused the action; `retry_after` is in seconds: a 429 in the API."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(Exception):
    """A service ApexTrade cannot work without (Redis, PostgreSQL) cannot be reached: a 503 in
    the API and an error page in the console (core.api_failures), never a sign-out or a 500."""

    def __init__(self, service: str) -> None:
        super().__init__(f"{service} cannot be reached.")
        self.service = service
