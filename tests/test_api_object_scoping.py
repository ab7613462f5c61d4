"""Walks every API route in the URLconf: with two users, another user's object is a 404 on every
object URL, whatever the method and body, and never appears in a list. Routes added later are
walked too: an object route whose model has no maker below fails the test until one is added.
And every write route refuses a body field it does not know."""

import itertools
import re
import uuid
from collections.abc import Callable

import pytest
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import EndpointEnumerator
from rest_framework.test import APIClient

from accounts.models import Alert, ApiKey, User
from strategies.models import Backtest, Optimisation, Strategy
from tests.factories import (
    AccessTokenFactory,
    AlertFactory,
    ApiKeyFactory,
    BacktestFactory,
    OptimisationFactory,
    PortfolioFactory,
    PositionFactory,
    StrategyFactory,
    TradeFactory,
    UserFactory,
)
from trading.models import Portfolio, Position, Trade

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

# A user holds one key per exchange and network (idx_api_keys_unique).
_KEY_SLOTS = itertools.cycle(
    {"exchange": exchange, "is_testnet": testnet}
    for exchange in ApiKey.Exchange.values
    for testnet in (True, False)
)

# How to make an object of each API model that belongs to a user.
MAKERS: dict[type[models.Model], Callable[[User], models.Model]] = {
    Strategy: lambda user: StrategyFactory(user=user),
    Backtest: lambda user: BacktestFactory(strategy=StrategyFactory(user=user)),
    Portfolio: lambda user: PortfolioFactory(user=user),
    Position: lambda user: PositionFactory(portfolio=PortfolioFactory(user=user)),
    Trade: lambda user: TradeFactory(portfolio=PortfolioFactory(user=user)),
    ApiKey: lambda user: ApiKeyFactory(user=user, **next(_KEY_SLOTS)),
    Alert: lambda user: AlertFactory(user=user),
}
MAKERS[AccessTokenFactory._meta.model] = lambda user: AccessTokenFactory(user=user)
MAKERS[Optimisation] = lambda user: OptimisationFactory(user=user)

# Path parameters that name public things, not a user's objects.
PUBLIC_PARAMETERS = {("/api/v1/marketdata/ticker/{symbol}", "symbol")}


def _endpoints() -> list[tuple[str, str, type, str | None]]:
    """(path, method, view class, viewset action or None) of every DRF route under /api/."""
    return [
        (path, method, callback.cls, (getattr(callback, "actions", None) or {}).get(method.lower()))
        for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints()
        if path.startswith("/api/")
    ]


# Path parameters named after the model whose id they carry (views that are not viewsets).
PARAMETER_MODELS: dict[str, type[models.Model]] = {
    "portfolio_id": Portfolio,
    "trade_id": Trade,
    "strategy_id": Strategy,
    "backtest_id": Backtest,
    "position_id": Position,
    "alert_id": Alert,
}


def _model(view: type) -> type[models.Model]:
    queryset = getattr(view, "queryset", None)
    assert queryset is not None, f"{view.__name__}: an object route needs a queryset attribute"
    return queryset.model


def _parameter_model(path: str, view: type, name: str) -> type[models.Model]:
    if name in ("pk", "id"):
        return _model(view)
    assert name in PARAMETER_MODELS, f"{path}: add {{{name}}}'s model to PARAMETER_MODELS"
    return PARAMETER_MODELS[name]


def _object_urls(path: str, obj: models.Model, name: str = "pk") -> str:
    if name in ("pk", "id"):
        return path.replace("{pk}", str(obj.pk)).replace("{id}", str(obj.pk))
    return path.replace("{" + name + "}", str(obj.pk))


def _owned_parameter(path: str) -> str | None:
    """The path parameter naming one of the user's objects, if any (one per route)."""
    parameters = set(re.findall(r"{(\w+)}", path))
    owned = {name for name in parameters if (path, name) not in PUBLIC_PARAMETERS}
    assert len(owned) <= 1, f"{path}: more than one object in the path; extend the walk"
    return owned.pop() if owned else None


def signed_in_user() -> tuple[User, APIClient]:
    user = UserFactory()
    client = APIClient()
    client.force_login(user)
    return user, client


def test_every_api_view_in_the_urlconf_is_a_drf_view_the_walk_sees():
    """The walk below enumerates DRF views; a plain Django view with path parameters under
    /api/ would escape it."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route, pattern.callback

    for route, callback in walk(get_resolver().url_patterns):
        if route.startswith("api/") and re.search(r"<|\(\?P<", route):
            assert hasattr(callback, "cls"), f"{route} is not a DRF view"


def test_another_users_object_is_a_404_on_every_object_route_and_method():
    _alice, alice_api = signed_in_user()
    bob, bob_api = signed_in_user()
    checked = []
    for path, method, view, _action in _endpoints():
        name = _owned_parameter(path)
        if name is None:
            continue
        model = _parameter_model(path, view, name)
        assert model in MAKERS, f"{path}: add a maker for {model.__name__} to MAKERS"
        bobs = MAKERS[model](bob)
        url = _object_urls(path, bobs, name)
        if method == "GET":
            assert bob_api.get(url).status_code == 200, f"GET {url} fails for its owner"
        response = getattr(alice_api, method.lower())(url, {"name": "x"}, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
        assert set(response.json()) == {"detail"}, (method, path)
        assert model.objects.filter(pk=bobs.pk).exists(), f"{method} {path} touched it"
        checked.append((method, path))
    assert len(checked) >= 15


def test_another_users_objects_never_appear_in_a_list():
    alice, alice_api = signed_in_user()
    bob, _ = signed_in_user()
    listed = 0
    for path, _method, view, action in _endpoints():
        if action != "list":
            continue
        model = _model(view)
        assert model in MAKERS, f"{path}: add a maker for {model.__name__} to MAKERS"
        mine, bobs = MAKERS[model](alice), MAKERS[model](bob)
        response = alice_api.get(path)
        assert response.status_code == 200, (path, response.json())
        ids = {item["id"] for item in response.json()["results"]}
        assert str(mine.pk) in ids, path
        assert str(bobs.pk) not in ids, path
        listed += 1
    assert listed >= 7


def test_an_unknown_id_is_the_same_404_as_another_users():
    _, api = signed_in_user()
    response = api.get(f"/api/v1/portfolios/{uuid.uuid4()}")
    assert response.status_code == 404


UNKNOWN = "no_such_field"


def test_every_write_route_refuses_an_unknown_field_by_name():
    """Every POST, PUT and PATCH of the API (on the user's own object where the route names one)
    answers a body with a field it does not know with a 400 naming the field: nothing a client
    sends is silently dropped (core.api_serializers.StrictFieldsMixin)."""
    user, api = signed_in_user()
    checked = []
    for path, method, view, _action in _endpoints():
        if method not in ("POST", "PUT", "PATCH"):
            continue
        url = path
        name = _owned_parameter(path)
        if name is not None:
            model = _parameter_model(path, view, name)
            url = _object_urls(path, MAKERS[model](user), name)
        response = getattr(api, method.lower())(url, {UNKNOWN: 1}, format="json")
        assert response.status_code == 400, (method, path, response.status_code)
        assert UNKNOWN in response.json(), (method, path, response.json())
        checked.append((method, path))
    assert len(checked) >= 10
