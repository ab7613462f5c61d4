"""The API's per-user request limit: settings.API_REQUESTS_PER_MINUTE requests a minute per
signed-in user, counted atomically in Redis (core.rate_limits); past it, 429 with Retry-After.
Anonymous requests are refused by authentication before they count, and sign-in attempts have a
throttle of their own."""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from core.cache_keys import rate_limit_key
from core.rate_limits import hit

WINDOW_SECONDS = 60


class UserRequestRate(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return True
        counted = hit(rate_limit_key(user.pk), window=WINDOW_SECONDS)
        self._retry_after = counted.retry_after
        return counted.count <= settings.API_REQUESTS_PER_MINUTE

    def wait(self) -> float | None:
        return getattr(self, "_retry_after", None)
