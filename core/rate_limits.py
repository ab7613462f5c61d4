"""Per-user counters in Redis for the API's limits, under the spec's `rate_limit:{user_id}` keys
(core.cache_keys). A counter is raised and its window started in one Lua script, so concurrent
requests cannot both read "one left" and both pass (DRF's throttles read, then write a history)."""

from dataclasses import dataclass

from django.core.cache import cache
from django_redis import get_redis_connection

# INCR, and EXPIRE on the window's first hit (or on a key left without one), in one step.
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


@dataclass(frozen=True)
class Hit:
    count: int  # hits in the current window, this one included
    retry_after: int  # seconds until the window ends


def hit(key: str, *, window: int) -> Hit:
    """Count one hit on `key` (a core.cache_keys name) in a fixed window of `window` seconds."""
    connection = get_redis_connection("default")
    count, ttl = connection.eval(_HIT, 1, cache.make_key(key), window)
    return Hit(count=int(count), retry_after=max(int(ttl), 1))
