"""The ON DELETE rules of spec §5.2 live in the database: a raw `DELETE`, which skips Django's
Python-level collector, cascades or nulls exactly as the spec says. trades.user_id has no ON
DELETE clause (NO ACTION): trade history must stop a user from being deleted outright.

The other foreign keys are DEFERRABLE INITIALLY DEFERRED, so their checks run at commit; each
delete here is followed by `SET CONSTRAINTS ALL IMMEDIATE`, which runs the pending checks where
the test can see them. trades.user_id is not deferrable (trading migration 0003)."""

import pytest
from django.db import IntegrityError, connection, models, transaction
from django.db.models import ProtectedError

from accounts.models import Alert, ApiKey, User
from compliance.models import AuditLog
from strategies.models import Backtest, BacktestTrade, Strategy
from tests.factories import (
    AlertFactory,
    ApiKeyFactory,
    AuditLogFactory,
    BacktestTradeFactory,
    PortfolioFactory,
    PositionFactory,
    StrategyFactory,
    TradeFactory,
    UserFactory,
)
from trading.models import Portfolio, Position, Trade

pytestmark = pytest.mark.django_db


def delete_with_raw_sql(instance: models.Model) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {instance._meta.db_table} WHERE id = %s", [instance.pk])
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def exists(instance: models.Model) -> bool:
    return type(instance).objects.filter(pk=instance.pk).exists()


def test_deleting_a_user_deletes_what_belongs_to_them() -> None:
    user = UserFactory()
    backtest_trade = BacktestTradeFactory(backtest__strategy__user=user)
    position = PositionFactory(portfolio__user=user)
    api_key = ApiKeyFactory(user=user)
    alert = AlertFactory(user=user)

    delete_with_raw_sql(user)

    assert not User.objects.filter(pk=user.pk).exists()
    assert not Strategy.objects.filter(user_id=user.pk).exists()
    assert not Backtest.objects.filter(user_id=user.pk).exists()
    assert not BacktestTrade.objects.filter(pk=backtest_trade.pk).exists()
    assert not Portfolio.objects.filter(user_id=user.pk).exists()
    assert not Position.objects.filter(pk=position.pk).exists()
    assert not ApiKey.objects.filter(pk=api_key.pk).exists()
    assert not Alert.objects.filter(pk=alert.pk).exists()


def test_deleting_a_user_keeps_their_audit_trail_without_the_user() -> None:
    entry = AuditLogFactory()

    delete_with_raw_sql(entry.user)

    entry.refresh_from_db()
    assert entry.user_id is None
    assert entry.action == AuditLog.Action.CREATE


def test_deleting_a_user_leaves_other_users_rows_alone() -> None:
    doomed, survivor = UserFactory(), UserFactory()
    StrategyFactory(user=doomed)
    strategy = StrategyFactory(user=survivor)
    entry = AuditLogFactory(user=survivor)

    delete_with_raw_sql(doomed)

    assert exists(strategy)
    entry.refresh_from_db()
    assert entry.user_id == survivor.pk


def test_deleting_a_strategy_deletes_its_backtests_and_their_trades() -> None:
    backtest_trade = BacktestTradeFactory()
    backtest = backtest_trade.backtest

    delete_with_raw_sql(backtest.strategy)

    assert not exists(backtest)
    assert not exists(backtest_trade)


def test_deleting_a_backtest_deletes_its_trades() -> None:
    backtest_trade = BacktestTradeFactory()

    delete_with_raw_sql(backtest_trade.backtest)

    assert not exists(backtest_trade)
    assert exists(backtest_trade.backtest.strategy)


def test_deleting_a_strategy_keeps_its_trades_without_the_strategy() -> None:
    strategy = StrategyFactory()
    trade = TradeFactory(strategy=strategy, portfolio__user=strategy.user)

    delete_with_raw_sql(strategy)

    trade.refresh_from_db()
    assert trade.strategy_id is None


def test_deleting_a_position_keeps_its_trades_without_the_position() -> None:
    position = PositionFactory()
    trade = TradeFactory(position=position, portfolio=position.portfolio)

    delete_with_raw_sql(position)

    trade.refresh_from_db()
    assert trade.position_id is None
    assert trade.portfolio_id == position.portfolio_id


def test_deleting_a_portfolio_deletes_its_positions_and_trades() -> None:
    position = PositionFactory()
    trade = TradeFactory(position=position, portfolio=position.portfolio)
    other_trade = TradeFactory(portfolio__user=position.portfolio.user)

    delete_with_raw_sql(position.portfolio)

    assert not exists(position)
    assert not exists(trade)
    assert exists(other_trade)
    assert exists(position.portfolio.user)


def test_database_refuses_to_delete_a_user_who_has_trades() -> None:
    trade = TradeFactory()

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        delete_with_raw_sql(trade.user)

    assert excinfo.value.__cause__.diag.table_name == "trades"
    assert exists(trade)


def test_database_refuses_the_delete_statement_itself_without_waiting_for_commit() -> None:
    trade = TradeFactory()

    with (
        pytest.raises(IntegrityError) as excinfo,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM users WHERE id = %s", [trade.user_id])

    assert excinfo.value.__cause__.diag.constraint_name == "trades_user_id_fkey"


def test_database_refuses_to_delete_a_user_whose_trades_sit_in_another_portfolio() -> None:
    trade = TradeFactory()
    someone_elses_portfolio = PortfolioFactory()
    Trade.objects.filter(pk=trade.pk).update(portfolio=someone_elses_portfolio)

    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        delete_with_raw_sql(trade.user)

    assert excinfo.value.__cause__.diag.table_name == "trades"
    assert exists(trade)


def test_orm_refuses_to_delete_a_user_who_has_trades() -> None:
    trade = TradeFactory()

    with pytest.raises(ProtectedError):
        trade.user.delete()

    assert exists(trade.user)
    assert exists(trade)


def test_orm_deletes_a_user_without_trades_with_everything_they_own() -> None:
    user = UserFactory()
    backtest_trade = BacktestTradeFactory(backtest__strategy__user=user)
    position = PositionFactory(portfolio__user=user)
    entry = AuditLogFactory(user=user)

    user.delete()

    assert not exists(backtest_trade)
    assert not exists(position)
    entry.refresh_from_db()
    assert entry.user_id is None
