from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from apextrade.demo_data import DEMO_EMAIL, OPERATOR_EMAIL, seed_demo
from marketdata.models import Ohlcv
from marketdata.selectors import candle_arrays
from strategies.models import Strategy
from strategies.rules.examples import EXAMPLE_STRATEGIES
from trading.models import Portfolio

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


def test_seed_demo_creates_working_accounts_strategies_a_paper_portfolio_and_candles():
    operator, demo = seed_demo(candle_bars=600)

    assert authenticate(email=operator.email, password=operator.password).is_staff
    demo_user = authenticate(email=demo.email, password=demo.password)
    assert demo_user is not None and not demo_user.is_staff
    assert Strategy.objects.filter(user=demo_user).count() == len(EXAMPLE_STRATEGIES)
    portfolio = Portfolio.objects.get(user=demo_user)
    assert portfolio.is_paper
    assert Ohlcv.objects.filter(symbol="BTC/USDT", timeframe="1m").count() == 600
    hourly = candle_arrays(
        symbol="BTC/USDT", timeframe="1h", start=timezone.now() - timedelta(days=1),
        end=timezone.now(),
    )  # fmt: skip
    assert 10 <= len(hourly["close"]) <= 11


def test_seed_demo_twice_adds_nothing_and_keeps_the_passwords(capsys, settings, tmp_path):
    settings.DEMO_CREDENTIALS_FILE = tmp_path / "demo-credentials.txt"
    operator, demo = seed_demo(candle_bars=300)  # the command finds the candles and adds none
    call_command("seed_demo")

    assert User.objects.filter(email__in=[OPERATOR_EMAIL, DEMO_EMAIL]).count() == 2
    assert Strategy.objects.count() == len(EXAMPLE_STRATEGIES)
    assert Portfolio.objects.count() == 1
    assert Ohlcv.objects.count() == 300
    out = capsys.readouterr().out
    assert f"operator@apextrade.local / unchanged, see {tmp_path}/demo-credentials.txt" in out
    assert authenticate(email=operator.email, password=operator.password) is not None
    assert authenticate(email=demo.email, password=demo.password) is not None


def test_seed_demo_saves_new_passwords_for_its_owner_only_and_resets_them_when_asked(
    capsys, settings, tmp_path
):
    path = tmp_path / "demo-credentials.txt"
    settings.DEMO_CREDENTIALS_FILE = path
    seed_demo(candle_bars=10)
    call_command("seed_demo", "--reset-demo-passwords")

    saved = dict(line.split(" ") for line in path.read_text().splitlines())
    assert set(saved) == {OPERATOR_EMAIL, DEMO_EMAIL}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert f"{DEMO_EMAIL} / {saved[DEMO_EMAIL]}" in capsys.readouterr().out
    assert authenticate(email=DEMO_EMAIL, password=saved[DEMO_EMAIL]) is not None
