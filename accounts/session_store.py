"""Sessions in Redis under `session:{session_key}`, the spec's session key space."""

from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.cache_keys import SESSION_KEY_PREFIX
from core.errors import ServiceUnavailable


class SessionStore(CacheSessionStore):
    cache_key_prefix = SESSION_KEY_PREFIX

    def load(self) -> dict:
        """Django's cache sessions read an unreachable cache as "no session", which signs the
        client out (a 403 for a signed-in API client). Here Redis out of reach is an error
        (a 503); only an unreadable key still starts an empty session."""
        try:
            session_data = self._cache.get(self.cache_key)
        except (ConnectionInterrupted, RedisConnectionError, RedisTimeoutError) as error:
            raise ServiceUnavailable("Redis") from error
        except Exception:
            session_data = None
        if session_data is not None:
            return session_data
        self._session_key = None
        return {}
