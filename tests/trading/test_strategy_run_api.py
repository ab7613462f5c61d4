"""Strategies that run, over HTTP: activate / pause / archive with the allowed transitions (409
otherwise), and deploying a strategy to one of the user's portfolios; another user's strategy or
portfolio is a 404."""

import pytest
from rest_framework.test import APIClient

from compliance.models import AuditLog
from strategies.models import Strategy
from tests.factories import PortfolioFactory, StrategyFactory, UserFactory
from trading.models import StrategyDeployment

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


@pytest.fixture
def strategy():
    return StrategyFactory()


@pytest.fixture
def api(strategy):
    client = APIClient()
    client.force_login(strategy.user)
    return client


def post(api, strategy, action, data=None):
    return api.post(f"/api/v1/strategies/{strategy.pk}/{action}", data or {}, format="json")


def test_a_strategy_goes_through_its_states_over_the_api(api, strategy) -> None:
    response = post(api, strategy, "activate")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "active"
    strategy.refresh_from_db()
    assert strategy.activated_at is not None
    assert strategy.trading_mode == Strategy.TradingMode.PAPER

    assert post(api, strategy, "activate").status_code == 409  # already active
    assert post(api, strategy, "pause").json()["status"] == "paused"
    assert post(api, strategy, "pause").status_code == 409  # only an active one pauses
    assert post(api, strategy, "activate").json()["status"] == "active"
    assert post(api, strategy, "archive").json()["status"] == "archived"
    for action in ("activate", "pause", "archive"):  # archived is final
        response = post(api, strategy, action)
        assert response.status_code == 409
        assert "archived" in response.json()["detail"]
    strategy.refresh_from_db()
    assert strategy.status == Strategy.Status.ARCHIVED
    actions = AuditLog.objects.filter(resource_id=strategy.pk).values_list("action", flat=True)
    assert list(actions).count(AuditLog.Action.ACTIVATE) == 2


def test_another_users_strategy_is_a_404_and_stays_as_it_was(api) -> None:
    theirs = StrategyFactory(user=UserFactory())
    for action in ("activate", "pause", "archive", "deploy"):
        assert post(api, theirs, action, {"portfolio_id": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Strategy.Status.DRAFT


def test_transitions_need_a_signed_in_user(strategy) -> None:
    assert post(APIClient(), strategy, "activate").status_code == 401
    strategy.refresh_from_db()
    assert strategy.status == Strategy.Status.DRAFT


def test_deploying_runs_the_strategy_in_the_portfolio(api, strategy) -> None:
    portfolio = PortfolioFactory(user=strategy.user)

    response = post(api, strategy, "deploy", {"portfolio_id": str(portfolio.pk)})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["portfolio_id"]) == ("active", str(portfolio.pk))
    deployment = StrategyDeployment.objects.get(strategy=strategy)
    assert deployment.portfolio_id == portfolio.pk

    other = PortfolioFactory(user=strategy.user)
    post(api, strategy, "pause")
    response = post(api, strategy, "deploy", {"portfolio_id": str(other.pk)})
    assert response.status_code == 200
    assert StrategyDeployment.objects.get(strategy=strategy).portfolio_id == other.pk


def test_deploying_to_another_users_portfolio_is_a_404(api, strategy) -> None:
    theirs = PortfolioFactory()
    response = post(api, strategy, "deploy", {"portfolio_id": str(theirs.pk)})
    assert response.status_code == 404
    assert not StrategyDeployment.objects.exists()
    strategy.refresh_from_db()
    assert strategy.status == Strategy.Status.DRAFT


def test_deploy_refuses_a_bad_body_a_live_portfolio_and_an_archived_strategy(api, strategy):
    response = post(api, strategy, "deploy", {"portfolio_id": "not-a-uuid"})
    assert response.status_code == 400
    assert "portfolio_id" in response.json()

    live = PortfolioFactory(user=strategy.user, live=True)
    response = post(api, strategy, "deploy", {"portfolio_id": str(live.pk)})
    assert response.status_code == 409  # a paper strategy needs a paper portfolio

    post(api, strategy, "archive")
    paper = PortfolioFactory(user=strategy.user)
    assert post(api, strategy, "deploy", {"portfolio_id": str(paper.pk)}).status_code == 409
    assert not StrategyDeployment.objects.exists()
