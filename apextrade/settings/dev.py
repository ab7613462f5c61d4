"""Developer machine: debug on, local services."""

from apextrade.settings.base import *  # noqa: F403
from apextrade.settings.base import env

DEBUG = env.bool("DEBUG", default=True)
