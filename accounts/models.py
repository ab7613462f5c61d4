"""Users, their broker API keys and their alerts: tables `users`, `api_keys`, `alerts` (spec §3.1,
§3.8, §3.9). Column names, types, defaults and CHECKs follow the spec; defaults are also set in the
database so that raw SQL inserts get them."""

import uuid
import zoneinfo

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.functions import RandomUUID, TransactionNow
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Lower

from core.validation import CURRENCY_PATTERN, currency_validator, symbol_validator

EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
EMAIL_TAKEN = "email_taken"  # the code of users_email_lower_unique's validation error


def default_notification_preferences() -> dict[str, bool]:
    return {"email_trade_executed": True, "email_daily_summary": True, "push_price_alerts": True}


def default_api_key_permissions() -> list[str]:
    return ["read"]


def validate_timezone_name(value: str) -> None:
    """Any IANA zone that zoneinfo knows (UTC, Europe/Paris, America/Argentina/Buenos_Aires ...)."""
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            "%(value)s is not a known IANA time zone (such as Europe/Paris or UTC).",
            params={"value": value},
        )


class IsIanaTimezone(models.Func):
    """`is_iana_timezone(name)`, the database function behind users.valid_timezone (accounts
    migration 0009): true for the IANA zone names, NULL for NULL."""

    function = "is_iana_timezone"
    output_field = models.BooleanField()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """Email addresses are one account whatever their case: stored and looked up in lower
        case, without surrounding spaces."""
        return (email or "").strip().lower()

    def get_by_natural_key(self, username: str) -> "User":
        """The user whose address matches whatever its case (sign-in by email); the lookup is
        served by the users_email_lower_unique index."""
        return self.alias(email_lower=Lower("email")).get(
            email_lower=self.normalize_email(username)
        )

    def _create(self, email: str, password: str | None, **fields: object) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields: object) -> "User":
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> "User":
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        fields.setdefault("is_verified", True)
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address. `is_staff`/`is_superuser` are Django's operator
    flags, added to the spec's columns; the password column is `password_hash` (Argon2)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    email = models.EmailField(
        max_length=255,
        unique=True,
        validators=[RegexValidator(EMAIL_PATTERN, "Enter a valid email address.")],
    )
    password = models.CharField("password", max_length=255, db_column="password_hash")

    first_name = models.CharField(max_length=100, null=True, blank=True)
    last_name = models.CharField(max_length=100, null=True, blank=True)
    timezone = models.CharField(
        max_length=50,
        null=True,
        blank=True,
        default="Europe/Paris",
        db_default="Europe/Paris",
        validators=[validate_timezone_name],
    )
    preferred_currency = models.CharField(
        max_length=3,
        null=True,
        blank=True,
        default="EUR",
        db_default="EUR",
        validators=[currency_validator],
    )

    is_active = models.BooleanField(null=True, default=True, db_default=True)
    is_verified = models.BooleanField(null=True, default=False, db_default=False)
    mfa_enabled = models.BooleanField(null=True, default=False, db_default=False)
    mfa_secret = models.CharField(max_length=255, null=True, blank=True)
    is_staff = models.BooleanField(
        default=False, db_default=False, help_text="Can sign in to the operator console."
    )
    # PermissionsMixin's flag, with a database default so that a row inserted with only the
    # spec's columns is accepted.
    is_superuser = models.BooleanField(
        "superuser status",
        default=False,
        db_default=False,
        help_text="Has every permission without them being assigned.",
    )

    notification_preferences = models.JSONField(
        null=True,
        blank=True,
        default=default_notification_preferences,
        db_default=default_notification_preferences(),
    )

    created_at = models.DateTimeField(null=True, db_default=TransactionNow())
    updated_at = models.DateTimeField(null=True, db_default=TransactionNow())
    last_login = models.DateTimeField(
        "last login", null=True, blank=True, db_column="last_login_at"
    )
    verified_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        db_table = "users"
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(condition=Q(email__iregex=EMAIL_PATTERN), name="email_format"),
            # Widened from the spec's Area/City pattern, which refuses UTC and three-part zones
            # (America/Argentina/Buenos_Aires): every IANA zone that zoneinfo knows is valid, and
            # nothing else (docs/database.md, deviations).
            models.CheckConstraint(condition=IsIanaTimezone("timezone"), name="valid_timezone"),
            models.CheckConstraint(
                condition=Q(preferred_currency__regex=CURRENCY_PATTERN), name="valid_currency"
            ),
            # Added to the spec's UNIQUE (email): one account per address whatever its case, also
            # for rows written around UserManager.normalize_email.
            models.UniqueConstraint(
                Lower("email"),
                name="users_email_lower_unique",
                violation_error_code=EMAIL_TAKEN,
                violation_error_message="A user with this email address already exists.",
            ),
        ]
        indexes = [
            models.Index(fields=["email"], name="idx_users_email"),
            models.Index(
                fields=["is_active"], name="idx_users_active", condition=Q(is_active=True)
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = UserManager.normalize_email(self.email)

    def validate_constraints(self, exclude: set[str] | None = None) -> None:
        """Django files an expression constraint's error under no field; the case-insensitive
        uniqueness of the address is reported on the email field, like the plain one."""
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as error:
            errors: dict[str, list[ValidationError]] = {}
            for field, field_errors in error.error_dict.items():
                for field_error in field_errors:
                    taken = field == NON_FIELD_ERRORS and field_error.code == EMAIL_TAKEN
                    errors.setdefault("email" if taken else field, []).append(field_error)
            raise ValidationError(errors) from error

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class ApiKeyExchange(models.TextChoices):
    BINANCE = "binance"
    KRAKEN = "kraken"
    ALPACA = "alpaca"
    COINBASE = "coinbase"
    DEGIRO = "degiro"


class ApiKeyPermission(models.TextChoices):
    READ = "read"
    TRADE = "trade"
    WITHDRAW = "withdraw"


class ApiKey(models.Model):
    """A user's encrypted broker credentials. The clear text never leaves the service layer."""

    Exchange = ApiKeyExchange

    Permission = ApiKeyPermission

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="api_keys", db_index=False
    )
    name = models.CharField(max_length=100)
    exchange = models.CharField(max_length=50, choices=Exchange.choices)
    is_testnet = models.BooleanField(null=True, default=True, db_default=True)

    api_key_encrypted = models.BinaryField()
    api_secret_encrypted = models.BinaryField()
    passphrase_encrypted = models.BinaryField(null=True, blank=True)

    permissions = ArrayField(
        models.CharField(max_length=50, choices=Permission.choices),
        null=True,
        blank=True,
        default=default_api_key_permissions,
        db_default=Value(
            default_api_key_permissions(), output_field=ArrayField(models.CharField(max_length=50))
        ),
    )

    is_valid = models.BooleanField(null=True, default=True, db_default=True)
    last_validated_at = models.DateTimeField(null=True, blank=True)
    validation_error = models.TextField(null=True, blank=True)

    last_used_at = models.DateTimeField(null=True, blank=True)
    request_count = models.IntegerField(null=True, default=0, db_default=0)

    created_at = models.DateTimeField(null=True, db_default=TransactionNow())
    updated_at = models.DateTimeField(null=True, db_default=TransactionNow())

    class Meta:
        db_table = "api_keys"
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=Q(exchange__in=ApiKeyExchange.values),
                name="valid_exchange",
            ),
            # The spec's `permissions <@ ARRAY['read', 'trade', 'withdraw']` compares VARCHAR(50)[]
            # with TEXT[], for which PostgreSQL has no operator; Django's `contained_by` casts the
            # array literal to the column's type, which is what the spec means.
            models.CheckConstraint(
                condition=Q(permissions__contained_by=ApiKeyPermission.values),
                name="valid_permissions",
            ),
            models.UniqueConstraint(
                fields=["user", "exchange", "is_testnet"], name="idx_api_keys_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_api_keys_user"),
            models.Index(fields=["user", "exchange"], name="idx_api_keys_user_exchange"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.exchange})"


class AlertAlertType(models.TextChoices):
    PRICE = "price"
    INDICATOR = "indicator"
    VOLUME = "volume"
    CHANGE_PCT = "change_pct"


class AlertCondition(models.TextChoices):
    ABOVE = "above"
    BELOW = "below"
    CROSSES_ABOVE = "crosses_above"
    CROSSES_BELOW = "crosses_below"
    EQUALS = "equals"


class Alert(models.Model):
    AlertType = AlertAlertType

    Condition = AlertCondition

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="alerts", db_index=False)
    symbol = models.CharField(max_length=20, validators=[symbol_validator])

    alert_type = models.CharField(max_length=20, choices=AlertType.choices)
    condition = models.CharField(max_length=20, choices=Condition.choices)
    threshold = models.DecimalField(max_digits=18, decimal_places=8)

    indicator = models.CharField(max_length=20, null=True, blank=True)
    indicator_params = models.JSONField(null=True, blank=True)

    notify_email = models.BooleanField(null=True, default=True, db_default=True)
    notify_push = models.BooleanField(null=True, default=True, db_default=True)
    message = models.TextField(null=True, blank=True)

    is_active = models.BooleanField(null=True, default=True, db_default=True)
    is_triggered = models.BooleanField(null=True, default=False, db_default=False)
    is_recurring = models.BooleanField(null=True, default=False, db_default=False)

    created_at = models.DateTimeField(null=True, db_default=TransactionNow())
    triggered_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "alerts"
        constraints = [
            models.CheckConstraint(
                condition=Q(alert_type__in=AlertAlertType.values),
                name="valid_alert_type",
            ),
            models.CheckConstraint(
                condition=Q(condition__in=AlertCondition.values),
                name="valid_condition",
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_alerts_user"),
            models.Index(
                fields=["symbol", "is_active", "is_triggered"],
                name="idx_alerts_active",
                condition=Q(is_active=True, is_triggered=False),
            ),
            # Not in the spec: the recurring alerts waiting to re-arm, looked up per price
            # update like the armed ones (accounts.alerts).
            models.Index(
                fields=["symbol"],
                name="idx_alerts_rearm",
                condition=Q(is_active=True, is_triggered=True, is_recurring=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.condition} {self.threshold}"


class AccessTokenScope(models.TextChoices):
    """What a personal access token may do: `read` the API (safe methods), or `trade`, which
    also writes (and includes reading)."""

    READ = "read"
    TRADE = "trade"


def default_access_token_scopes() -> list[str]:
    return [AccessTokenScope.READ]


class AccessToken(models.Model):
    """A personal access token for programs (`Authorization: Bearer <token>`), added to the
    spec's tables. Only the SHA-256 of the secret is stored: the secret is shown once, when the
    token is made; `prefix` (its first characters) lets its owner tell tokens apart. A token has
    256 random bits, so a fast hash is enough: no guess or table can reach it."""

    Scope = AccessTokenScope

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, db_default=RandomUUID())
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="access_tokens", db_index=False
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(
        models.CharField(max_length=10, choices=AccessTokenScope.choices),
        default=default_access_token_scopes,
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, db_default=TransactionNow())

    class Meta:
        db_table = "access_tokens"
        constraints = [
            models.CheckConstraint(
                condition=Q(scopes__contained_by=AccessTokenScope.values) & Q(scopes__len__gte=1),
                name="valid_access_token_scopes",
            ),
            models.CheckConstraint(
                condition=Q(token_hash__regex=r"^[0-9a-f]{64}$"), name="access_token_hash_sha256"
            ),
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="idx_access_tokens_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class MfaRecoveryCode(models.Model):
    """One of a user's single-use two-factor recovery codes, added to the spec's tables. Only the
    SHA-256 of the code is stored (a code has 80 random bits); `used_at` is set once, by a
    conditional UPDATE, so a code signs in at most once."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="mfa_recovery_codes", db_index=False
    )
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, db_default=TransactionNow())

    class Meta:
        db_table = "mfa_recovery_codes"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "code_hash"], name="mfa_recovery_codes_user_code_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"
