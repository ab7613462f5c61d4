"""users.timezone: every IANA zone that zoneinfo knows is valid, in the model and in the database
(the spec's Area/City pattern refused UTC and three-part zones; docs/schema-deviations.md)."""

import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_database_accepts_exactly_the_zones_zoneinfo_knows():
    zones = sorted(zoneinfo.available_timezones())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM unnest(%s::text[]) AS name WHERE NOT is_iana_timezone(name)", [zones]
        )
        refused = [row[0] for row in cursor.fetchall()]
    assert refused == [], "tzdata has zones the database refuses: add a migration for them"
    assert len(zones) > 400


@pytest.mark.parametrize(
    "zone", ["UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "America/Port-au-Prince"]
)
def test_utc_and_three_part_zones_are_stored(zone):
    user = UserFactory(timezone=zone)
    user.full_clean()
    user.refresh_from_db()
    assert user.timezone == zone


@pytest.mark.parametrize(
    "name", ["Europe/Pari", "posix/Europe/Paris", "CEST", "UTC+3", "Mars/Olympus_Mons"]
)
def test_what_is_not_an_iana_zone_is_refused_by_the_model_and_the_database(name):
    user = UserFactory.build(timezone=name)
    with pytest.raises(ValidationError) as error:
        user.full_clean()
    assert "timezone" in error.value.message_dict
    with pytest.raises(IntegrityError, match="valid_timezone"), transaction.atomic():
        UserFactory(timezone=name)
