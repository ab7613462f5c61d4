"""Broker API keys, alerts and the profile over HTTP: input serializers validate what a client may
set (and refuse the rest), output serializers shape answers; the services save."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.alert_services import ALERT_FIELDS
from accounts.models import Alert, ApiKey, User, default_notification_preferences
from accounts.selectors import api_key_last_four
from core.api_serializers import StrictFieldsMixin

# --- Broker API keys ----------------------------------------------------------------------------


class ApiKeySerializer(serializers.ModelSerializer):
    """What is shown of a broker key: never the key, the secret or the passphrase."""

    key_last_four = serializers.SerializerMethodField(
        help_text="The last four characters of the API key (not the secret); null when it "
        "cannot be decrypted."
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "exchange",
            "is_testnet",
            "permissions",
            "key_last_four",
            "created_at",
        ]
        read_only_fields = fields

    def get_key_last_four(self, key: ApiKey) -> str | None:
        return api_key_last_four(key)


class ApiKeyInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """A broker key to store encrypted. The key, secret and passphrase are write-only: no answer
    ever shows them."""

    read_only_names = tuple(ApiKeySerializer.Meta.fields)

    name = serializers.CharField(max_length=100)
    exchange = serializers.ChoiceField(choices=ApiKey.Exchange.choices)
    api_key = serializers.CharField(max_length=1000, write_only=True)
    api_secret = serializers.CharField(max_length=1000, write_only=True)
    passphrase = serializers.CharField(
        max_length=1000, write_only=True, required=False, allow_null=True, allow_blank=True
    )
    is_testnet = serializers.BooleanField(default=True)
    permissions = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKey.Permission.choices),
        default=["read"],
        max_length=len(ApiKey.Permission.values),
        help_text="What the key may do at the broker: read, trade, withdraw.",
    )

    def validate_permissions(self, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Name each permission once.")
        return value


# --- Alerts -------------------------------------------------------------------------------------


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = ["id", *ALERT_FIELDS, "is_triggered", "created_at", "triggered_at"]
        read_only_fields = fields


class AlertInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """An alert's settable fields; whether it has triggered is the alert checker's to say."""

    read_only_names = tuple(AlertSerializer.Meta.fields)

    symbol = serializers.CharField(max_length=20, help_text="For example BTC/USDT.")
    alert_type = serializers.ChoiceField(choices=Alert.AlertType.choices)
    condition = serializers.ChoiceField(choices=Alert.Condition.choices)
    threshold = serializers.DecimalField(max_digits=18, decimal_places=8)
    indicator = serializers.CharField(
        max_length=20,
        required=False,
        allow_null=True,
        help_text="Indicator alerts only: an indicator of the rule language (sma, rsi, ...).",
    )
    indicator_params = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="Indicator alerts only: its parameters, as in the rule language "
        '({"period": 14}).',
    )
    notify_email = serializers.BooleanField(required=False)
    notify_push = serializers.BooleanField(required=False)
    message = serializers.CharField(
        max_length=2000, required=False, allow_null=True, allow_blank=True
    )
    is_active = serializers.BooleanField(required=False)
    is_recurring = serializers.BooleanField(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


# --- Profile ------------------------------------------------------------------------------------

NOTIFICATION_PREFERENCES_SCHEMA = {
    "type": "object",
    "properties": {key: {"type": "boolean"} for key in default_notification_preferences()},
    "additionalProperties": False,
}


@extend_schema_field(NOTIFICATION_PREFERENCES_SCHEMA)
class NotificationPreferencesField(serializers.JSONField):
    """Known keys, boolean values (checked by accounts.services.update_profile)."""


class ProfileSerializer(serializers.ModelSerializer):
    notification_preferences = NotificationPreferencesField(read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "timezone",
            "preferred_currency",
            "notification_preferences",
            "is_verified",
            "mfa_enabled",
            "created_at",
        ]
        read_only_fields = fields


class ProfileInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """The profile fields a user changes; the timezone, currency and preferences are checked by
    the service (any IANA zone; an ISO 4217 code; known keys with true or false)."""

    read_only_names = tuple(ProfileSerializer.Meta.fields)

    first_name = serializers.CharField(
        max_length=100, required=False, allow_null=True, allow_blank=True
    )
    last_name = serializers.CharField(
        max_length=100, required=False, allow_null=True, allow_blank=True
    )
    timezone = serializers.CharField(
        max_length=50, required=False, help_text="An IANA time zone: Europe/Paris, UTC ..."
    )
    preferred_currency = serializers.CharField(
        max_length=3, required=False, help_text="An ISO 4217 code: EUR, USD, GBP ..."
    )
    notification_preferences = NotificationPreferencesField(
        required=False,
        help_text="The preferences to change; the ones left out keep their values.",
    )
