"""Sessions in Redis under `session:{session_key}`, the spec's session key space."""

from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore


class SessionStore(CacheSessionStore):
    cache_key_prefix = "session:"
