"""Redis key names, exactly as the schema spec writes them (§1.1), in one place so that other
services reading Redis find them. Django's cache stores them without its `:version:` decoration
(`spec_key`, settings.CACHES KEY_FUNCTION)."""

from uuid import UUID


def spec_key(key: str, key_prefix: str, version: int) -> str:
    return f"{key_prefix}{key}" if key_prefix else key


def ticker_key(symbol: str) -> str:
    """The latest price of a symbol."""
    return f"cache:ticker:{symbol}"


def ticker_lock_key(symbol: str) -> str:
    """Held while the latest price of a symbol is compared and replaced."""
    return f"lock:ticker:{symbol}"


def portfolio_key(portfolio_id: UUID | str) -> str:
    """A portfolio's cached valuation (paper and live trading)."""
    return f"cache:portfolio:{portfolio_id}"


def rate_limit_key(user_id: UUID | str) -> str:
    """A user's API request budget (client API): requests in the current minute."""
    return f"rate_limit:{user_id}"


def backtest_start_limit_key(user_id: UUID | str) -> str:
    """A user's backtest starts in the current hour."""
    return f"rate_limit:{user_id}:backtest_starts"


# Sessions are kept under `session:{session_key}` (accounts.session_store): a user may hold more
# than one session, so the spec's `session:{user_id}` names the key space, not one key per user.
SESSION_KEY_PREFIX = "session:"


def login_attempts_key(kind: str, subject: str) -> str:
    """Attempts counted against one account (`kind` "account", `subject` a digest of its email
    address) or one client address (`kind` "address", or "email_requests" for registrations and
    emails); see accounts.security.login_throttle."""
    return f"login_attempts:{kind}:{subject}"


def totp_used_key(user_id: UUID | str, time_step: int) -> str:
    """Set once a user's TOTP code of one time step has signed in, so that it cannot again."""
    return f"totp_used:{user_id}:{time_step}"


def backtest_heartbeat_key(backtest_id: UUID | str) -> str:
    """Kept alive by the worker running a backtest; its expiry means the worker stopped."""
    return f"backtest:heartbeat:{backtest_id}"


def backtest_enqueued_key(backtest_id: UUID | str) -> str:
    """When a backtest's run task was sent, and how many times."""
    return f"backtest:enqueued:{backtest_id}"
