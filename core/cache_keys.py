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
