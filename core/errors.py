"""Errors that services raise and every caller understands: the API maps them to HTTP answers in
one place (core.api_errors), the console and commands show their message."""


class StateConflict(Exception):
    """The action does not fit the object's current state (a finished backtest cancelled, an
    order already filled): a 409 in the API."""


class LimitExceeded(Exception):
    """A per-user limit refused the action; `retry_after` is in seconds: a 429 in the API."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(Exception):
    """A service the action needs (Redis, PostgreSQL) cannot be reached: a 503 in the API. Raised
    instead of carrying on as if nothing were stored (e.g. a session that cannot be read is not
    an anonymous client)."""
