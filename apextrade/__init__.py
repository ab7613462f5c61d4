"""ApexTrade: rules-based strategies, honest backtests, paper and live portfolios."""

from apextrade.celery import app as celery_app

__all__ = ("celery_app",)
