"""Sign-in attempts counted in Redis, per account and per client address, so that a password is
hashed only while both still have attempts left (spec §1.1 puts rate limits in Redis).

An attempt is *reserved* before the password is checked, by one Lua script that reads both
counters and increments both only when neither is at its limit: however many attempts arrive at
once, no more than the limit get past it and reach the password hasher. A failed attempt keeps
its reservation; a successful sign-in clears the account's count and gives the address its
attempt back (so an office behind one address is not locked out by its own sign-ins); an attempt
whose password was right but which stopped for another reason (no second factor sent, email not
verified) gives both back, without forgiving earlier failures. Counts expire a fixed window after
an account's or address's first counted attempt; Retry-After is what is left of it.
"""

import hashlib
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django_redis import get_redis_connection

from core.cache_keys import login_attempts_key
from core.errors import REDIS_UNREACHABLE, LimitExceeded, ServiceUnavailable

# KEYS: the counters; ARGV: each counter's limit, then the window in seconds. Returns 0 when the
# attempt is reserved, else the seconds until the fullest counter expires.
_RESERVE = """
local window = tonumber(ARGV[#ARGV])
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then
    local ttl = redis.call('TTL', key)
    if ttl < 1 then
      ttl = window
      redis.call('EXPIRE', key, ttl)
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, window) end
end
return 0
"""

# KEYS: counters to give one attempt back; ARGV[1] == '1' clears the first counter instead.
_GIVE_BACK = """
for i, key in ipairs(KEYS) do
  if i == 1 and ARGV[1] == '1' then
    redis.call('DEL', key)
  elseif tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
"""


class LoginThrottled(LimitExceeded):
    """Too many sign-in attempts for this account or from this address (a 429 with Retry-After
    in the API and in the admin). Nothing was hashed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed sign-in attempts; try again in {retry_after} seconds.",
            retry_after=retry_after,
        )


@dataclass(frozen=True)
class AttemptKeys:
    account: str
    address: str


def address_subject(address: str | None) -> str:
    """The unit an address is counted in: the IPv4 address, or the /64 network of an IPv6
    address (one subscriber usually holds a whole /64)."""
    if not address:
        return "unknown"
    parsed = ipaddress.ip_address(address)
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def attempt_keys(*, email: str, address: str | None) -> AttemptKeys:
    """Redis keys of the two counters. The account is named by a digest of its normalised
    address, so Redis holds no email addresses (and unknown addresses count alike)."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return AttemptKeys(
        account=cache.make_key(login_attempts_key("account", digest)),
        address=cache.make_key(login_attempts_key("address", address_subject(address))),
    )


def _run(script: str, keys: list[str], args: list[int | str]) -> int:
    try:
        connection = get_redis_connection("default")
        return int(connection.register_script(script)(keys=keys, args=args))
    except REDIS_UNREACHABLE as exc:
        raise ServiceUnavailable("Redis") from exc


def reserve_attempt(keys: AttemptKeys) -> None:
    """Count one attempt against both, or raise LoginThrottled (counting nothing) when either is
    at its limit."""
    wait = _run(
        _RESERVE,
        [keys.account, keys.address],
        [
            settings.LOGIN_ATTEMPTS_PER_ACCOUNT,
            settings.LOGIN_ATTEMPTS_PER_ADDRESS,
            settings.LOGIN_ATTEMPTS_WINDOW_SECONDS,
        ],
    )
    if wait:
        raise LoginThrottled(wait)


def succeeded(keys: AttemptKeys) -> None:
    """A sign-in succeeded: the account's failures are forgiven, the address gets its attempt
    back."""
    _run(_GIVE_BACK, [keys.account, keys.address], ["1"])


def give_back(keys: AttemptKeys) -> None:
    """The attempt was not a failed guess (the password was right): both get it back."""
    _run(_GIVE_BACK, [keys.account, keys.address], ["0"])


def reserve_email_request(*, address: str | None) -> None:
    """Count one request that sends an email or makes an account (registration, a new
    verification link, a password reset) against the client's address, or raise LimitExceeded:
    these hash a password or send mail, and must not be free to repeat."""
    key = cache.make_key(login_attempts_key("email_requests", address_subject(address)))
    wait = _run(
        _RESERVE,
        [key],
        [settings.ACCOUNT_REQUESTS_PER_ADDRESS, settings.ACCOUNT_REQUESTS_WINDOW_SECONDS],
    )
    if wait:
        raise LimitExceeded(
            f"Too many account requests from your address; try again in {wait} seconds.",
            retry_after=wait,
        )
