"""Sessions in Redis under `session:{session_key}`, the spec's session key space.

Django's cache session store reads a session it cannot reach as an empty one: with Redis down, a
signed-in client would be told it is signed out (403) and might drop its session. This store
raises core.errors.ServiceUnavailable instead (a 503 in the API), so the client knows to retry."""

from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore

from core.cache_keys import SESSION_KEY_PREFIX
from core.errors import REDIS_UNREACHABLE, ServiceUnavailable


class SessionStore(CacheSessionStore):
    cache_key_prefix = SESSION_KEY_PREFIX

    def load(self) -> dict:
        if self.session_key is None:
            return {}
        try:
            session_data = self._cache.get(self.cache_key)
        except REDIS_UNREACHABLE as exc:
            raise ServiceUnavailable("Redis") from exc
        if session_data is not None:
            return session_data
        self._session_key = None
        return {}

    def exists(self, session_key: str) -> bool:
        try:
            return super().exists(session_key)
        except REDIS_UNREACHABLE as exc:
            raise ServiceUnavailable("Redis") from exc

    def save(self, must_create: bool = False) -> None:
        try:
            super().save(must_create=must_create)
        except REDIS_UNREACHABLE as exc:
            raise ServiceUnavailable("Redis") from exc

    def delete(self, session_key: str | None = None) -> None:
        try:
            super().delete(session_key)
        except REDIS_UNREACHABLE as exc:
            raise ServiceUnavailable("Redis") from exc
