"""Developer machine: debug on, local services."""

from apextrade.settings.base import *  # noqa: F403
from apextrade.settings.base import env

DEBUG = env.bool("DEBUG", default=True)

# runserver serves each request on a new thread; kept-alive connections would pile up, one per
# thread, until PostgreSQL runs out of slots. Production (a fixed pool of workers) keeps them.
for _db in DATABASES.values():  # noqa: F405
    _db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)

# Emails (verification links, password resets) are printed by runserver, not sent.
EMAIL_BACKEND = env("DEV_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
