import pytest

from strategies.selectors import BACKTEST_SERIES_FIELDS, backtest_list_for, backtests_for
from tests.factories import BacktestFactory

pytestmark = pytest.mark.django_db


def test_a_users_backtest_list_leaves_out_the_series_columns():
    mine = BacktestFactory()
    BacktestFactory()  # someone else's

    listed = list(backtest_list_for(mine.user))

    assert [backtest.pk for backtest in listed] == [mine.pk]
    assert set(BACKTEST_SERIES_FIELDS) <= listed[0].get_deferred_fields()
    assert backtests_for(mine.user).get().get_deferred_fields() == set()
