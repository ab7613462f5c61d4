"""Accounts reads are scoped to the user who asks: another user's rows never appear, and broker
keys are read without their encrypted columns."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.selectors import alerts_for, api_keys_for
from tests.factories import AlertFactory, ApiKeyFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_api_keys_for_lists_only_the_users_keys_without_loading_secrets():
    alice, bob = UserFactory(), UserFactory()
    key = ApiKeyFactory(user=alice)
    ApiKeyFactory(user=bob)

    [listed] = api_keys_for(alice)

    assert listed == key
    assert listed.get_deferred_fields() >= {
        "api_key_encrypted",
        "api_secret_encrypted",
        "passphrase_encrypted",
    }
    assert list(api_keys_for(UserFactory())) == []


def test_alerts_for_lists_only_the_users_alerts_newest_first():
    alice, bob = UserFactory(), UserFactory()
    # rows made in one transaction share NOW(): the creation times are set apart by hand
    newer = AlertFactory(user=alice, created_at=timezone.now())
    older = AlertFactory(user=alice, created_at=newer.created_at - dt.timedelta(hours=1))
    AlertFactory(user=bob)

    assert list(alerts_for(alice)) == [newer, older]
