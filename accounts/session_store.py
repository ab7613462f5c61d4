"""Sessions in Redis under `session:{session_key}`, the spec's session key space."""

from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore

from core.cache_keys import SESSION_KEY_PREFIX


class SessionStore(CacheSessionStore):
    cache_key_prefix = SESSION_KEY_PREFIX
