import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from accounts.models import User
from apextrade.demo_data import DEMO_EMAIL, OPERATOR_EMAIL, seed_demo
from strategies.models import Strategy
from strategies.rules.examples import EXAMPLE_STRATEGIES
from trading.models import Portfolio

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


def test_seed_demo_creates_working_accounts_strategies_and_a_paper_portfolio():
    operator, demo = seed_demo()

    assert authenticate(email=operator.email, password=operator.password).is_staff
    demo_user = authenticate(email=demo.email, password=demo.password)
    assert demo_user is not None and not demo_user.is_staff
    assert Strategy.objects.filter(user=demo_user).count() == len(EXAMPLE_STRATEGIES)
    portfolio = Portfolio.objects.get(user=demo_user)
    assert portfolio.is_paper


def test_seed_demo_twice_adds_nothing(capsys):
    call_command("seed_demo")
    call_command("seed_demo")

    assert User.objects.filter(email__in=[OPERATOR_EMAIL, DEMO_EMAIL]).count() == 2
    assert Strategy.objects.count() == len(EXAMPLE_STRATEGIES)
    assert Portfolio.objects.count() == 1
    assert (
        "Operator (admin console /admin/): operator@apextrade.local / " in capsys.readouterr().out
    )
