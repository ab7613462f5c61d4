"""The user model and its manager: one account per email address whatever its case."""

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_the_manager_stores_addresses_in_lower_case_without_spaces():
    user = User.objects.create_user(" Ada.Lovelace@Example.COM ", "a long passphrase 42")
    operator = User.objects.create_superuser("OPS@Example.com", "a long passphrase 42")

    assert (user.email, operator.email) == ("ada.lovelace@example.com", "ops@example.com")


def test_a_user_is_found_by_their_address_in_any_case():
    user = User.objects.create_user("ada@example.com", "a long passphrase 42")

    assert User.objects.get_by_natural_key("ADA@Example.com") == user


def test_full_clean_lowers_the_address():
    user = User(email="Ada@Example.COM")
    user.set_password("a long passphrase 42")

    user.full_clean()

    assert user.email == "ada@example.com"
