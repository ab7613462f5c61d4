"""The operator console: every registered model's pages open for an operator and stay shut for
everyone else; no page shows a secret; operators can get from a user to everything they own."""

from collections.abc import Callable

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection, models
from django.http import HttpRequest
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import ApiKey, User
from compliance.models import AuditLog
from strategies.models import Strategy
from tests.console_forms import user_change_form
from tests.factories import (
    DEFAULT_PASSWORD,
    AccessTokenFactory,
    AlertFactory,
    ApiKeyFactory,
    AuditLogFactory,
    BacktestFactory,
    BacktestTradeFactory,
    OperatorFactory,
    PortfolioFactory,
    PositionFactory,
    StrategyFactory,
    TradeFactory,
    UserFactory,
)
from trading.models import Portfolio, Trade

# Pages of the time-series models query the `timeseries` database.
pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

FACTORIES: dict[str, Callable[[], models.Model]] = {
    "accounts.User": UserFactory,
    "accounts.ApiKey": ApiKeyFactory,
    "accounts.Alert": AlertFactory,
    "accounts.AccessToken": AccessTokenFactory,
    "strategies.Strategy": StrategyFactory,
    "strategies.Backtest": BacktestFactory,
    "strategies.BacktestTrade": BacktestTradeFactory,
    "trading.Portfolio": PortfolioFactory,
    "trading.Position": PositionFactory,
    "trading.Trade": TradeFactory,
    "compliance.AuditLog": AuditLogFactory,
}
REGISTERED_MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)


def model_id(model: type[models.Model]) -> str:
    return model._meta.label


def admin_url(model: type[models.Model], page: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def some_row(model: type[models.Model]) -> models.Model | None:
    factory = FACTORIES.get(model._meta.label)
    return factory() if factory else model._default_manager.first()


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def request_for(client: Client) -> HttpRequest:
    """A request carrying the client's user, for asking a ModelAdmin about permissions."""
    response = client.get(reverse("admin:index"))
    return response.wsgi_request


@pytest.fixture
def operator() -> Client:
    return client_for(OperatorFactory())


def test_every_relational_model_is_in_the_console() -> None:
    registered = {model._meta.label for model in admin.site._registry}

    assert set(FACTORIES) <= registered


@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=model_id)
def test_operator_opens_every_page_of_every_model(
    model: type[models.Model], operator: Client
) -> None:
    model_admin = admin.site._registry[model]
    row = some_row(model)

    assert operator.get(admin_url(model, "changelist")).status_code == 200
    assert operator.get(admin_url(model, "changelist"), {"q": "BTC"}).status_code == 200
    if model_admin.has_add_permission(request_for(operator)):
        assert operator.get(admin_url(model, "add")).status_code == 200
    if row is not None:
        assert operator.get(admin_url(model, "change", row.pk)).status_code == 200


@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=model_id)
def test_someone_not_on_the_staff_is_sent_to_the_login_page(model: type[models.Model]) -> None:
    client = client_for(UserFactory())
    row = some_row(model)
    urls = [admin_url(model, "changelist"), admin_url(model, "add")]
    if row is not None:
        urls.append(admin_url(model, "change", row.pk))

    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url


@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=model_id)
def test_staff_without_permissions_are_refused_every_model_page(
    model: type[models.Model],
) -> None:
    client = client_for(UserFactory(is_staff=True))
    row = some_row(model)

    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(admin_url(model, "changelist")).status_code == 403
    assert client.get(admin_url(model, "add")).status_code == 403
    if row is not None:
        assert client.get(admin_url(model, "change", row.pk)).status_code == 403


def test_staff_with_the_view_permission_may_look_but_not_touch() -> None:
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_strategy"))
    strategy = StrategyFactory()
    client = client_for(viewer)

    assert client.get(admin_url(Strategy, "change", strategy.pk)).status_code == 200
    response = client.post(admin_url(Strategy, "change", strategy.pk), {"name": "Hijacked"})
    assert response.status_code == 403
    strategy.refresh_from_db()
    assert strategy.name != "Hijacked"


# --- Secrets


def test_user_page_never_shows_the_password_hash_or_the_mfa_secret(operator: Client) -> None:
    user = UserFactory(mfa_enabled=True, mfa_secret="JBSWY3DPEHPK3PXP")
    user.refresh_from_db()
    salt_and_hash = user.password.partition("$")[2]

    page = operator.get(admin_url(User, "change", user.pk)).content.decode()

    assert user.password not in page
    assert salt_and_hash not in page
    assert "JBSWY3DPEHPK3PXP" not in page
    assert 'name="password"' not in page
    assert 'name="mfa_secret"' not in page
    assert reverse("admin:auth_user_password_change", args=[user.pk]) in page


def test_user_list_never_shows_the_password_hash(operator: Client) -> None:
    user = UserFactory()

    page = operator.get(admin_url(User, "changelist")).content.decode()

    assert user.email in page
    assert user.password not in page


def test_api_key_page_shows_neither_clear_nor_encrypted_credentials(operator: Client) -> None:
    api_key = ApiKeyFactory()
    api_key.refresh_from_db()
    tokens = [bytes(api_key.api_key_encrypted), bytes(api_key.api_secret_encrypted)]

    for url in (admin_url(ApiKey, "change", api_key.pk), admin_url(ApiKey, "changelist")):
        page = operator.get(url).content.decode()
        assert "CLEARTEXT" not in page
        for token in tokens:
            assert token.decode() not in page

    change_page = operator.get(admin_url(ApiKey, "change", api_key.pk)).content.decode()
    list_page = operator.get(admin_url(ApiKey, "changelist")).content.decode()
    assert "…TEXT" in change_page and "…TEXT" in list_page  # the key's last four characters
    assert f"API key: {len(tokens[0])} bytes" in change_page
    assert f"secret: {len(tokens[1])} bytes" in change_page


def test_api_keys_cannot_be_created_in_the_console(operator: Client) -> None:
    user = UserFactory()

    response = operator.post(
        admin_url(ApiKey, "add"),
        {"user": user.pk, "name": "Sneaky", "exchange": "binance", "is_testnet": "on"},
    )

    assert response.status_code == 403
    assert not ApiKey.objects.exists()


def test_an_operator_can_rename_an_api_key_without_touching_its_credentials(
    operator: Client,
) -> None:
    api_key = ApiKeyFactory()
    api_key.refresh_from_db()
    secret_before = bytes(api_key.api_secret_encrypted)

    response = operator.post(
        admin_url(ApiKey, "change", api_key.pk),
        {"name": "Renamed", "is_valid": "true", "api_secret_encrypted": "replaced"},
    )

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.name == "Renamed"
    assert bytes(api_key.api_secret_encrypted) == secret_before


SECRET_LOOKUPS: list[tuple[type[models.Model], str]] = [
    (User, "mfa_secret__startswith"),
    (User, "password__startswith"),
    (ApiKey, "api_secret_encrypted__isnull"),
    (ApiKey, "user__mfa_secret__startswith"),
    (AuditLog, "old_values__mfa_secret__isnull"),
]


@pytest.mark.parametrize(
    ("model", "lookup"),
    SECRET_LOOKUPS,
    ids=[f"{model._meta.model_name}-{lookup}" for model, lookup in SECRET_LOOKUPS],
)
def test_list_pages_refuse_lookups_on_secret_columns(
    model: type[models.Model], lookup: str
) -> None:
    """Filtering by prefix and counting rows would read a secret character by character."""
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename=f"view_{model._meta.model_name}"))
    UserFactory(mfa_enabled=True, mfa_secret="MFASECRETVALUE")
    ApiKeyFactory()

    response = client_for(viewer).get(admin_url(model, "changelist"), {lookup: "M"})

    assert response.status_code == 400


def test_list_pages_still_filter_on_ordinary_columns() -> None:
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    wanted = UserFactory(email="filtered@example.com", is_verified=False)
    client = client_for(viewer)

    response = client.get(
        admin_url(User, "changelist"), {"email__startswith": "filtered", "is_verified__exact": "0"}
    )

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [wanted]
    assert client.get(admin_url(ApiKey, "changelist"), {"is_valid__exact": "1"}).status_code == 403


# --- From a user to what they own


def test_user_page_links_to_their_strategies_portfolios_trades_and_backtests(
    operator: Client,
) -> None:
    user = UserFactory()
    backtest = BacktestFactory(strategy__user=user)
    trade = TradeFactory(portfolio__user=user)
    stranger_strategy = StrategyFactory()

    page = operator.get(admin_url(User, "change", user.pk)).content.decode()

    for obj in (backtest.strategy, trade.portfolio, trade, backtest):
        assert admin_url(type(obj), "change", obj.pk) in page
    assert admin_url(Strategy, "change", stranger_strategy.pk) not in page
    for model in (Strategy, Portfolio, Trade):
        assert f"{admin_url(model, 'changelist')}?user={user.pk}" in page


# (a factory for the listed rows, the field the console's links filter them by)
FILTERED_LISTS: list[tuple[Callable[..., models.Model], str]] = [
    (StrategyFactory, "user"),
    (PortfolioFactory, "user"),
    (TradeFactory, "user"),
    (BacktestFactory, "user"),
    (BacktestFactory, "strategy"),
    (BacktestTradeFactory, "backtest"),
    (TradeFactory, "portfolio"),
    (TradeFactory, "position"),
]


@pytest.mark.parametrize(
    ("factory", "field"),
    FILTERED_LISTS,
    ids=[f"{f._meta.model.__name__}-by-{field}" for f, field in FILTERED_LISTS],
)
def test_the_list_behind_an_all_rows_link_holds_only_the_related_rows(
    factory: Callable[..., models.Model], field: str, operator: Client
) -> None:
    model = factory._meta.model
    related = PositionFactory() if field == "position" else None
    wanted = factory(position=related, portfolio=related.portfolio) if related else factory()
    factory()

    response = operator.get(admin_url(model, "changelist"), {field: getattr(wanted, f"{field}_id")})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [wanted]


def test_operator_finds_a_user_by_email(operator: Client) -> None:
    wanted = UserFactory(email="needle@example.com")
    UserFactory(email="haystack@example.com")

    response = operator.get(admin_url(User, "changelist"), {"q": "needle"})

    assert list(response.context["cl"].result_list) == [wanted]


def test_portfolio_page_lists_its_positions(operator: Client) -> None:
    position = PositionFactory(symbol="ETH/USDT")

    page = operator.get(admin_url(Portfolio, "change", position.portfolio_id)).content.decode()

    assert "ETH/USDT" in page
    assert admin_url(type(position), "change", position.pk) in page


def test_operator_creates_a_user_with_a_hashed_password(operator: Client) -> None:
    response = operator.post(
        admin_url(User, "add"),
        {
            "email": "new.trader@example.com",
            "usable_password": "true",
            "password1": "a sturdy passphrase 42",
            "password2": "a sturdy passphrase 42",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(email="new.trader@example.com")
    assert user.check_password("a sturdy passphrase 42")


def test_operator_creates_users_with_addresses_in_lower_case_once_whatever_the_case(
    operator: Client,
) -> None:
    form = {
        "usable_password": "true",
        "password1": "a sturdy passphrase 42",
        "password2": "a sturdy passphrase 42",
    }

    created = operator.post(admin_url(User, "add"), {"email": "New.Trader@Example.com", **form})
    again = operator.post(admin_url(User, "add"), {"email": "NEW.TRADER@example.com", **form})

    assert created.status_code == 302
    assert User.objects.filter(email="new.trader@example.com").exists()
    assert again.status_code == 200
    assert list(again.context["adminform"].form.errors) == ["email"]
    assert User.objects.filter(email__iexact="new.trader@example.com").count() == 1


def test_operator_cannot_give_a_user_another_users_address_in_another_case(
    operator: Client,
) -> None:
    UserFactory(email="carol@example.com")
    user = UserFactory()

    response = operator.post(
        admin_url(User, "change", user.pk), user_change_form(user, email="Carol@Example.com")
    )

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["email"]


def test_operator_resets_a_password_through_the_password_form(operator: Client) -> None:
    user = UserFactory()
    url = reverse("admin:auth_user_password_change", args=[user.pk])

    page = operator.get(url)
    response = operator.post(
        url,
        {
            "usable_password": "true",
            "password1": "a brand new passphrase 7",
            "password2": "a brand new passphrase 7",
        },
    )

    assert page.status_code == 200
    assert user.password not in page.content.decode()
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a brand new passphrase 7")
    row = AuditLog.objects.get(action="settings_changed", resource_id=user.pk)
    # The row a user's own change writes (accounts.security.passwords), the operator acting.
    assert (row.old_values, row.new_values) == (
        {"password": "[redacted]"},
        {"password": "[redacted]"},
    )
    assert row.metadata["password_set"] == "set_by_operator"
    assert row.metadata["channel"] == "admin"
    assert row.user_id != user.pk


def test_a_password_set_by_an_operator_and_its_audit_row_commit_together(
    operator: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = UserFactory()

    def audit_fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr("compliance.services.record_audit_event", audit_fails)
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        operator.post(
            reverse("admin:auth_user_password_change", args=[user.pk]),
            {
                "usable_password": "true",
                "password1": "a brand new passphrase 7",
                "password2": "a brand new passphrase 7",
            },
        )

    user.refresh_from_db()
    assert not user.check_password("a brand new passphrase 7")


# --- Operator access


@pytest.fixture
def user_manager() -> User:
    """Staff who may view and change users, but is no superuser."""
    manager = UserFactory(is_staff=True)
    manager.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    return manager


def test_staff_who_are_not_superusers_cannot_grant_operator_access(user_manager: User) -> None:
    target = UserFactory()
    desk = Group.objects.create(name="Desk")
    client = client_for(user_manager)

    page = client.get(admin_url(User, "change", target.pk)).content.decode()
    response = client.post(
        admin_url(User, "change", target.pk),
        user_change_form(
            target,
            first_name="Renamed",
            is_staff="on",
            is_superuser="on",
            groups=[desk.pk],
            user_permissions=[Permission.objects.get(codename="change_user").pk],
        ),
    )

    for field in ("is_staff", "is_superuser", "groups", "user_permissions"):
        assert f'name="{field}"' not in page
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.first_name == "Renamed"
    assert not (target.is_staff or target.is_superuser)
    assert not target.groups.exists()
    assert not target.user_permissions.exists()


def test_staff_who_are_not_superusers_cannot_raise_their_own_access(user_manager: User) -> None:
    client_for(user_manager).post(
        admin_url(User, "change", user_manager.pk),
        user_change_form(
            user_manager, is_superuser="on", user_permissions=[Permission.objects.first().pk]
        ),
    )

    user_manager.refresh_from_db()
    assert not user_manager.is_superuser
    assert user_manager.user_permissions.count() == 2


@pytest.mark.parametrize("target_kind", ["superuser", "staff"])
def test_staff_who_are_not_superusers_cannot_take_over_another_operator(
    user_manager: User, target_kind: str
) -> None:
    user_manager.user_permissions.add(Permission.objects.get(codename="delete_user"))
    target = OperatorFactory() if target_kind == "superuser" else UserFactory(is_staff=True)
    client = client_for(user_manager)

    password_page = client.get(reverse("admin:auth_user_password_change", args=[target.pk]))
    password_post = client.post(
        reverse("admin:auth_user_password_change", args=[target.pk]),
        {"password1": "a new long passphrase 7", "password2": "a new long passphrase 7"},
    )
    change_post = client.post(
        admin_url(User, "change", target.pk), user_change_form(target, email="me@evil.example")
    )
    delete_post = client.post(admin_url(User, "delete", target.pk), {"post": "yes"})

    assert password_page.status_code == 403
    assert password_post.status_code == 403
    assert change_post.status_code == 403
    assert delete_post.status_code == 403
    target.refresh_from_db()
    assert target.email != "me@evil.example"
    assert target.check_password(DEFAULT_PASSWORD)
    # The page itself stays readable (view_user), without a save button.
    page = client.get(admin_url(User, "change", target.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


def test_staff_who_are_not_superusers_still_manage_clients(user_manager: User) -> None:
    target = UserFactory()
    client = client_for(user_manager)

    response = client.post(
        reverse("admin:auth_user_password_change", args=[target.pk]),
        {"password1": "a new long passphrase 7", "password2": "a new long passphrase 7"},
    )

    assert response.status_code == 302
    target.refresh_from_db()
    assert target.check_password("a new long passphrase 7")


def test_a_superuser_grants_operator_access(operator: Client) -> None:
    target = UserFactory()
    desk = Group.objects.create(name="Desk")

    operator.post(
        admin_url(User, "change", target.pk),
        user_change_form(target, is_staff="on", groups=[desk.pk]),
    )

    target.refresh_from_db()
    assert target.is_staff
    assert list(target.groups.all()) == [desk]


# --- Read-only parts


def test_strategy_version_cannot_be_set_from_the_console(operator: Client) -> None:
    strategy = StrategyFactory()
    form = {
        "user": strategy.user_id,
        "name": "Renamed",
        "asset_symbol": "BTC/USDT",
        "timeframe": "1h",
        "entry_rules": '{"left": "close", "op": ">", "right": 1}',
        "exit_rules": '{"left": "close", "op": "<", "right": 1}',
        "max_position_size_pct": "10",
        "status": "draft",
        "version": "42",
    }

    response = operator.post(admin_url(Strategy, "change", strategy.pk), form)

    assert response.status_code == 302
    strategy.refresh_from_db()
    assert (strategy.name, strategy.version) == ("Renamed", 2)


def test_strategy_form_reports_invalid_rules_on_their_field(operator: Client) -> None:
    strategy = StrategyFactory()
    form = {
        "user": strategy.user_id,
        "name": strategy.name,
        "asset_symbol": "BTC/USDT",
        "timeframe": "1h",
        "entry_rules": '{"left": "close", "op": "=="}',
        "exit_rules": '{"left": "close", "op": "<", "right": 1}',
        "max_position_size_pct": "10",
        "status": "draft",
    }

    response = operator.post(admin_url(Strategy, "change", strategy.pk), form)

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["entry_rules"]


def test_audit_log_is_read_only_even_for_a_superuser(operator: Client) -> None:
    entry = AuditLogFactory()

    assert operator.get(admin_url(AuditLog, "add")).status_code == 403
    assert operator.get(admin_url(AuditLog, "delete", entry.pk)).status_code == 403
    response = operator.post(admin_url(AuditLog, "change", entry.pk), {"action": "delete"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.action == AuditLog.Action.CREATE


def test_audit_log_list_offers_no_bulk_delete(operator: Client) -> None:
    AuditLogFactory()

    response = operator.get(admin_url(AuditLog, "changelist"))

    assert "delete_selected" not in response.content.decode()


def test_audit_log_is_searchable_by_user_email_and_resource_id(operator: Client) -> None:
    wanted = AuditLogFactory(user__email="auditee@example.com")
    other = AuditLogFactory()

    by_email = operator.get(admin_url(AuditLog, "changelist"), {"q": "auditee@example.com"})
    by_resource = operator.get(admin_url(AuditLog, "changelist"), {"q": str(other.resource_id)})

    assert list(by_email.context["cl"].result_list) == [wanted]
    assert list(by_resource.context["cl"].result_list) == [other]


@pytest.mark.parametrize("model", [Trade, Portfolio], ids=model_id)
def test_trade_history_cannot_be_deleted_from_the_console(
    model: type[models.Model], operator: Client
) -> None:
    trade = TradeFactory()
    row = trade if model is Trade else trade.portfolio

    assert operator.get(admin_url(model, "delete", row.pk)).status_code == 403
    assert Trade.objects.filter(pk=trade.pk).exists()


def test_a_user_with_trade_history_cannot_be_deleted_from_the_console(operator: Client) -> None:
    trade = TradeFactory()

    page = operator.get(admin_url(User, "delete", trade.user_id))
    response = operator.post(admin_url(User, "delete", trade.user_id), {"post": "yes"})

    assert page.context["perms_lacking"] == {"trade", "portfolio"}
    assert page.context["protected"]  # Trade.user is PROTECT
    assert response.status_code == 200  # the refusal page again, nothing deleted
    assert User.objects.filter(pk=trade.user_id).exists()


def test_a_user_without_trades_can_be_deleted_from_the_console(operator: Client) -> None:
    portfolio = PortfolioFactory()
    StrategyFactory(user=portfolio.user)

    response = operator.post(admin_url(User, "delete", portfolio.user_id), {"post": "yes"})

    assert response.status_code == 302
    assert not User.objects.filter(pk=portfolio.user_id).exists()


@pytest.mark.parametrize("label", FACTORIES)
def test_every_list_drills_down_by_date(label: str, operator: Client) -> None:
    row = FACTORIES[label]()
    model = type(row)
    date_field = admin.site._registry[model].date_hierarchy
    when = getattr(row, date_field)

    response = operator.get(
        admin_url(model, "changelist"),
        {f"{date_field}__year": when.year, f"{date_field}__month": when.month},
    )

    assert response.status_code == 200
    assert row.pk in [shown.pk for shown in response.context["cl"].result_list]


@pytest.mark.parametrize("label", FACTORIES)
def test_a_list_costs_the_same_queries_for_one_row_as_for_many(
    label: str, operator: Client
) -> None:
    factory = FACTORIES[label]
    model = factory._meta.model
    url = admin_url(model, "changelist")
    factory()
    with CaptureQueriesContext(connection) as one_row:
        operator.get(url)

    factory.create_batch(4)
    with CaptureQueriesContext(connection) as five_rows:
        response = operator.get(url)

    assert len(response.context["cl"].result_list) >= 5
    assert len(five_rows) == len(one_row)
