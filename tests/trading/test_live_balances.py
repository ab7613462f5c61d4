"""Live portfolios reconciled with their exchange account (trading.live_balances) against the
fake Binance: matching balances, a drift within tolerance adopted with an audit trail, a larger
one held for an operator (live orders refused until it is adopted or clears), a shortfall of a
position's asset flagged, and an exchange timeout leaving the books untouched."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from compliance.models import AuditLog
from core.errors import StateConflict
from tests.factories import ApiKeyFactory, OperatorFactory, PortfolioFactory, UserFactory
from tests.trading.paper import assert_books_balance
from trading import tasks
from trading.live_balances import adopt_exchange_cash, reconcile_live_balance
from trading.models import LiveBalanceDiscrepancy, Trade
from trading.orders import place_order

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])
D = Decimal
Status = LiveBalanceDiscrepancy.Status


@pytest.fixture
def portfolio(fake_binance, run_tasks):
    """A live portfolio that bought 0.02 BTC at 40,000 (commission 0.80): cash 9,199.20, and a
    fake Binance account holding exactly that."""
    live = PortfolioFactory(live=True, total_value=D("10000.00"))
    ApiKeyFactory(user=live.user, permissions=["read", "trade"])
    trade = live_order(live, run_tasks)
    assert trade.status == Trade.Status.FILLED
    assert assert_books_balance(live).cash_balance == D("9199.20")
    fake_binance.balances = {"USDT": ("9199.20000000", "0.00"), "BTC": ("0.02000000", "0.00")}
    return live


def live_order(portfolio, run_tasks) -> Trade:
    capture, _ = run_tasks
    with capture():
        trade = place_order(
            portfolio=portfolio,
            actor=portfolio.user,
            symbol="BTC/USDT",
            side="BUY",
            order_type="MARKET",
            quantity=D("0.02"),
        )
    trade.refresh_from_db()
    return trade


def portfolio_audit_rows(portfolio) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(resource_type="portfolio", resource_id=portfolio.pk).order_by("id")
    )


def test_matching_balances_change_nothing(fake_binance, portfolio) -> None:
    audit_before = AuditLog.objects.count()

    check = reconcile_live_balance(portfolio=portfolio)

    assert (check.outcome, check.asset) == ("matched", "USDT")
    assert (check.books_cash, check.exchange_cash) == (D("9199.20"), D("9199.2"))
    assert LiveBalanceDiscrepancy.objects.count() == 0
    assert AuditLog.objects.count() == audit_before
    assert fake_binance.calls("GET", "/account")


def test_a_fraction_of_a_cent_is_no_difference(fake_binance, portfolio) -> None:
    fake_binance.balances["USDT"] = ("9199.20490000", "0.00")  # 9,199.20 to the cent

    assert reconcile_live_balance(portfolio=portfolio).outcome == "matched"
    assert LiveBalanceDiscrepancy.objects.count() == 0


def test_a_drift_within_tolerance_is_adopted_with_both_values_in_the_audit_log(
    fake_binance, portfolio
) -> None:
    fake_binance.balances["USDT"] = ("9199.00000000", "0.45000000")  # free + in orders

    check = reconcile_live_balance(portfolio=portfolio)

    assert check.outcome == "adjusted"
    books = assert_books_balance(portfolio)
    assert books.cash_balance == D("9199.45")
    assert books.total_value == D("9199.45") + books.positions_value
    (row,) = LiveBalanceDiscrepancy.objects.all()
    assert (row.kind, row.asset, row.status) == ("cash", "USDT", Status.ADOPTED)
    assert (row.books_amount, row.exchange_amount, row.difference) == (
        D("9199.20"), D("9199.45"), D("0.25"),
    )  # fmt: skip
    assert row.resolved_by is None and row.note == "within tolerance: adopted"
    (change,) = portfolio_audit_rows(portfolio)
    assert change.old_values["cash_balance"] == "9199.20"
    assert change.new_values["cash_balance"] == "9199.45"
    assert change.metadata["channel"] == "live_balances"
    assert AuditLog.objects.filter(resource_id=row.pk).count() == 2  # found, then adopted

    # Adopted: the next check matches.
    assert reconcile_live_balance(portfolio=portfolio).outcome == "matched"


def test_a_drift_beyond_tolerance_holds_live_orders_until_an_operator_adopts_it(
    fake_binance, portfolio, run_tasks
) -> None:
    fake_binance.balances["USDT"] = ("9100.00000000", "0.00")  # 99.20 missing (a withdrawal)

    check = reconcile_live_balance(portfolio=portfolio)

    assert check.outcome == "discrepancy"
    assert assert_books_balance(portfolio).cash_balance == D("9199.20")  # not moved
    (row,) = LiveBalanceDiscrepancy.objects.all()
    assert (row.status, row.difference) == (Status.OPEN, D("-99.20"))
    assert portfolio_audit_rows(portfolio) == []
    with pytest.raises(
        StateConflict, match=r"exchange reports 9100 USDT where the books hold 9199\.2"
    ):
        live_order(portfolio, run_tasks)

    # Checked again: still one open discrepancy, not a second.
    assert reconcile_live_balance(portfolio=portfolio).outcome == "discrepancy"
    assert LiveBalanceDiscrepancy.objects.count() == 1

    operator = UserFactory(is_staff=True)
    adopted = adopt_exchange_cash(discrepancy=row, actor=operator)

    assert (adopted.status, adopted.resolved_by) == (Status.ADOPTED, operator)
    assert assert_books_balance(portfolio).cash_balance == D("9100.00")
    (change,) = portfolio_audit_rows(portfolio)
    assert (change.user, change.old_values["cash_balance"], change.new_values["cash_balance"]) == (
        operator, "9199.20", "9100.00",
    )  # fmt: skip
    with pytest.raises(StateConflict, match="adopted already"):
        adopt_exchange_cash(discrepancy=row, actor=operator)
    assert live_order(portfolio, run_tasks).status == Trade.Status.FILLED  # no longer held


def test_a_discrepancy_clears_when_books_and_exchange_agree_again(
    fake_binance, portfolio, run_tasks
) -> None:
    fake_binance.balances["USDT"] = ("8000.00000000", "0.00")
    reconcile_live_balance(portfolio=portfolio)

    fake_binance.balances["USDT"] = ("9199.20000000", "0.00")
    check = reconcile_live_balance(portfolio=portfolio)

    assert check.outcome == "matched"
    (row,) = LiveBalanceDiscrepancy.objects.all()
    assert (row.status, row.note) == (Status.CLEARED, "books and exchange agree again")
    assert assert_books_balance(portfolio).cash_balance == D("9199.20")
    assert live_order(portfolio, run_tasks).status == Trade.Status.FILLED


def test_an_exchange_timeout_leaves_the_books_untouched(fake_binance, portfolio) -> None:
    fake_binance.balances["USDT"] = ("5000.00000000", "0.00")
    fake_binance.balance_timeouts = 1
    audit_before = AuditLog.objects.count()

    check = reconcile_live_balance(portfolio=portfolio)

    assert check.outcome == "skipped"
    assert "could not be read" in check.reason and "RequestTimeout" in check.reason
    assert assert_books_balance(portfolio).cash_balance == D("9199.20")
    assert LiveBalanceDiscrepancy.objects.count() == 0
    assert AuditLog.objects.count() == audit_before


def test_less_of_a_positions_asset_on_the_exchange_is_flagged_but_never_adopted(
    fake_binance, portfolio, run_tasks
) -> None:
    fake_binance.balances["BTC"] = ("0.01500000", "0.00")  # the books hold 0.02

    check = reconcile_live_balance(portfolio=portfolio)

    assert check.outcome == "discrepancy"
    (row,) = LiveBalanceDiscrepancy.objects.all()
    assert (row.kind, row.asset, row.books_amount, row.exchange_amount) == (
        "position", "BTC", D("0.02"), D("0.015"),
    )  # fmt: skip
    with pytest.raises(StateConflict, match="a position cannot"):
        adopt_exchange_cash(discrepancy=row, actor=UserFactory(is_staff=True))
    # The exchange itself refuses a sale of what is not there: orders are not held.
    assert live_order(portfolio, run_tasks).status == Trade.Status.FILLED

    fake_binance.balances["BTC"] = ("0.5", "0.1")  # more than the books: held outside, fine
    fake_binance.balances["USDT"] = ("8398.40000000", "0.00")  # − 800 − 0.80
    assert reconcile_live_balance(portfolio=portfolio).outcome == "matched"
    row.refresh_from_db()
    assert row.status == Status.CLEARED


def test_an_order_whose_outcome_is_unknown_postpones_the_check(fake_binance, portfolio) -> None:
    Trade.objects.create(
        user=portfolio.user,
        portfolio=portfolio,
        symbol="BTC/USDT",
        side="BUY",
        order_type="MARKET",
        quantity=D("0.01"),
        is_paper=False,
        status=Trade.Status.SUBMITTED,  # sent, no answer yet
    )
    fake_binance.balances["USDT"] = ("8799.20000000", "0.00")

    check = reconcile_live_balance(portfolio=portfolio)

    assert (check.outcome, check.reason) == ("skipped", "A live order's outcome is not known yet.")
    assert LiveBalanceDiscrepancy.objects.count() == 0


def test_the_beat_job_reconciles_every_live_portfolio(fake_binance, portfolio) -> None:
    PortfolioFactory()  # paper: not reconciled
    assert tasks.reconcile_live_balances() == {"matched": 1}

    other = PortfolioFactory(live=True, user=portfolio.user)  # the same account, twice
    assert tasks.reconcile_live_balances() == {"skipped": 2}
    other.delete()


def test_the_command_adopts_with_a_named_operator_and_refuses_bad_input(
    fake_binance, portfolio, capsys
) -> None:
    fake_binance.balances["USDT"] = ("9000.00000000", "0.00")
    call_command("reconcile_live_balances", "--portfolio", str(portfolio.pk))
    assert capsys.readouterr().out.startswith("discrepancy: USDT books 9199.20 exchange 9000")
    row = LiveBalanceDiscrepancy.objects.get()

    with pytest.raises(CommandError, match="needs --operator"):
        call_command("reconcile_live_balances", "--adopt", str(row.pk))
    with pytest.raises(CommandError, match="not an id"):
        call_command("reconcile_live_balances", "--adopt", "nope", "--operator", "x@example.com")
    operator = UserFactory(is_staff=True)
    call_command("reconcile_live_balances", "--adopt", str(row.pk), "--operator", operator.email)

    assert assert_books_balance(portfolio).cash_balance == D("9000.00")
    row.refresh_from_db()
    assert (row.status, row.resolved_by) == (Status.ADOPTED, operator)
    with pytest.raises(CommandError, match="adopted already"):
        call_command(
            "reconcile_live_balances", "--adopt", str(row.pk), "--operator", operator.email
        )


def test_an_operator_adopts_from_the_admin_and_the_page_lists_the_discrepancy(
    fake_binance, portfolio
) -> None:
    fake_binance.balances["USDT"] = ("9150.00000000", "0.00")
    reconcile_live_balance(portfolio=portfolio)
    row = LiveBalanceDiscrepancy.objects.get()
    operator = OperatorFactory()
    client = Client()
    client.force_login(operator)
    changelist = "/admin/trading/livebalancediscrepancy/"

    page = client.get(changelist)
    assert page.status_code == 200 and b"-49.20" in page.content

    client.post(changelist, {"action": "adopt_exchange_cash", "_selected_action": [str(row.pk)]})

    row.refresh_from_db()
    assert (row.status, row.resolved_by) == (Status.ADOPTED, operator)
    assert assert_books_balance(portfolio).cash_balance == D("9150.00")
    (change,) = portfolio_audit_rows(portfolio)
    assert (change.user, change.metadata["channel"]) == (operator, "admin")
