"""Sign-in throttling in Redis, per account and per client address: past the limit a 429 with
Retry-After, before any password is hashed, on the API and the admin login; every refusal is
audited."""

import threading
import time

import pytest
from django.db import connections
from django.test import Client

from accounts.security.login_throttle import address_subject
from compliance.models import AuditLog
from tests.accounts.counting_hasher import HASHER, CountingHasher
from tests.factories import DEFAULT_PASSWORD, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = [HASHER]
    settings.LOGIN_ATTEMPTS_PER_ACCOUNT = 5
    settings.LOGIN_ATTEMPTS_PER_ADDRESS = 20
    settings.LOGIN_ATTEMPTS_WINDOW_SECONDS = 900
    CountingHasher.calls = 0
    return CountingHasher


def sign_in(email: str, password: str, address: str = "203.0.113.5"):
    return Client(REMOTE_ADDR=address).post(
        LOGIN, {"email": email, "password": password}, content_type="application/json"
    )


def test_past_the_account_limit_even_the_right_password_is_a_429_and_nothing_is_hashed(
    counting_hasher,
):
    user = UserFactory()
    counting_hasher.calls = 0

    answers = [sign_in(user.email, "wrong").status_code for _ in range(5)]
    refused = sign_in(user.email, DEFAULT_PASSWORD)

    assert answers == [400] * 5
    assert refused.status_code == 429
    assert 890 <= int(refused["Retry-After"]) <= 900
    assert "Too many failed sign-in attempts" in refused.json()["detail"]
    assert counting_hasher.calls == 5


def test_the_account_limit_holds_whatever_address_the_attempts_come_from(counting_hasher):
    user = UserFactory()
    for number in range(5):
        sign_in(user.email, "wrong", address=f"198.51.100.{number}")
    assert sign_in(user.email, "wrong", address="192.0.2.99").status_code == 429


def test_the_address_limit_holds_across_accounts(counting_hasher, settings):
    settings.LOGIN_ATTEMPTS_PER_ADDRESS = 3
    users = UserFactory.create_batch(4)
    for user in users[:3]:
        assert sign_in(user.email, "wrong").status_code == 400
    counting_hasher.calls = 0

    assert sign_in(users[3].email, DEFAULT_PASSWORD).status_code == 429
    assert counting_hasher.calls == 0
    assert sign_in(users[3].email, DEFAULT_PASSWORD, address="192.0.2.1").status_code == 200


def test_a_successful_sign_in_forgives_the_accounts_failures(counting_hasher):
    user = UserFactory()
    for _ in range(4):
        sign_in(user.email, "wrong")
    assert sign_in(user.email, DEFAULT_PASSWORD).status_code == 200
    assert [sign_in(user.email, "wrong").status_code for _ in range(5)] == [400] * 5
    assert sign_in(user.email, "wrong").status_code == 429


def test_unknown_addresses_are_counted_like_accounts(counting_hasher):
    answers = [sign_in("nobody@example.com", "guess").status_code for _ in range(6)]
    assert answers == [400] * 5 + [429]


def test_attempts_are_counted_again_once_the_window_has_passed(counting_hasher, settings):
    settings.LOGIN_ATTEMPTS_WINDOW_SECONDS = 1
    user = UserFactory()
    for _ in range(5):
        sign_in(user.email, "wrong")
    assert sign_in(user.email, DEFAULT_PASSWORD).status_code == 429
    time.sleep(2.1)
    assert sign_in(user.email, DEFAULT_PASSWORD).status_code == 200


def test_every_refused_attempt_is_audited_with_its_reason(counting_hasher):
    user = UserFactory()
    for _ in range(7):
        sign_in(user.email, "wrong", address="198.51.100.77")

    rows = AuditLog.objects.filter(resource_id=user.pk).order_by("id")
    assert [row.metadata["reason"] for row in rows] == ["invalid_credentials"] * 5 + [
        "throttled"
    ] * 2
    assert {(row.action, row.user_id, row.ip_address) for row in rows} == {
        ("login", None, "198.51.100.77")
    }


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_burst_gets_no_attempt_past_the_limit_to_the_hasher(counting_hasher):
    user = UserFactory()
    counting_hasher.calls = 0
    burst = 12
    start = threading.Barrier(burst)
    answers: list[int] = []
    lock = threading.Lock()

    def attempt(number: int) -> None:
        try:
            start.wait()
            status = sign_in(user.email, "wrong", address=f"198.51.100.{number}").status_code
            with lock:
                answers.append(status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [400] * 5 + [429] * 7
    assert counting_hasher.calls == 5


def test_the_admin_login_is_throttled_and_audited_too(counting_hasher):
    operator = OperatorFactory()
    browser = Client(REMOTE_ADDR="198.51.100.9")
    answers = [
        browser.post("/admin/login/", {"username": operator.email, "password": "wrong"})
        for _ in range(5)
    ]
    counting_hasher.calls = 0

    refused = browser.post(
        "/admin/login/", {"username": operator.email, "password": DEFAULT_PASSWORD}
    )

    assert [answer.status_code for answer in answers] == [200] * 5
    assert "Please enter the correct email" in answers[0].content.decode()
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert counting_hasher.calls == 0
    channels = set(
        AuditLog.objects.filter(resource_id=operator.pk).values_list("metadata__channel", flat=True)
    )
    assert channels == {"admin"}


def test_the_admin_login_still_signs_an_operator_in():
    operator = OperatorFactory()
    browser = Client()
    response = browser.post(
        "/admin/login/?next=/admin/",
        {"username": operator.email, "password": DEFAULT_PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302
    assert browser.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    ("address", "subject"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        (None, "unknown"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64_network(address, subject):
    assert address_subject(address) == subject
