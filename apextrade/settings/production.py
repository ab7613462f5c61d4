"""Production: refuses to start without real secrets; passes `manage.py check --deploy` cleanly."""

import binascii

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from apextrade.settings.base import *  # noqa: F403
from apextrade.settings.base import DEVELOPMENT_FIELD_ENCRYPTION_KEY, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY", default="")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith(("dev-only", "django-insecure")):
    raise ImproperlyConfigured("SECRET_KEY must be set to a random string of 50+ characters.")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must list at least one Fernet key.")
for _position, _key in enumerate(FIELD_ENCRYPTION_KEYS, start=1):
    if _key == DEVELOPMENT_FIELD_ENCRYPTION_KEY:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS key {_position} is the public development key; generate one "
            "with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    try:
        Fernet(_key)
    except (ValueError, binascii.Error) as _error:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS key {_position} is not a Fernet key (32 url-safe base64 "
            f"bytes): {_error}"
        ) from None
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS or any("*" in host for host in ALLOWED_HOSTS):
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must name the site's host names; a wildcard (*) lets any Host header "
        "through."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
