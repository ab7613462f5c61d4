"""How accounts' models are treated by GDPR export and erasure, retention and the audit trail
(registered from AccountsConfig.ready(); see docs/compliance.md)."""

from collections.abc import Iterable
from typing import Any

from compliance.registry import AuditEvents, Erasure, ModelPolicy, registry
from core.cache_keys import rate_limit_key

USER_ACTIONS = (
    "register",
    "login",
    "logout",
    "create",
    "read",
    "update",
    "delete",
    "activate",
    "deactivate",
    "settings_changed",
)


def _redis_keys(user: Any) -> Iterable[str]:
    return [rate_limit_key(user.pk)]


def declare() -> None:
    registry.register(
        "accounts",
        models=[
            ModelPolicy(
                "accounts.User",
                Erasure.ERASED,
                exported=True,
                section="profile",
                owner="pk",
                secret_fields=frozenset({"password", "mfa_secret"}),
                personal_fields=frozenset({"email", "first_name", "last_name"}),
            ),
            # Metadata only: the encrypted credentials are never exported.
            ModelPolicy(
                "accounts.ApiKey",
                Erasure.ERASED,
                exported=True,
                section="broker_keys",
                owner="user",
                secret_fields=frozenset(
                    {"api_key_encrypted", "api_secret_encrypted", "passphrase_encrypted"}
                ),
            ),
            ModelPolicy(
                "accounts.Alert", Erasure.ERASED, exported=True, section="alerts", owner="user"
            ),
            # Credentials (digests only): deleted with the user (ON DELETE CASCADE); the
            # tokens' names, prefixes and dates are exported, never their digests.
            ModelPolicy(
                "accounts.AccessToken",
                Erasure.ERASED,
                exported=True,
                section="access_tokens",
                owner="user",
                secret_fields=frozenset({"token_hash"}),
            ),
            ModelPolicy(
                "accounts.MfaRecoveryCode",
                Erasure.ERASED,
                secret_fields=frozenset({"code_hash"}),
            ),
        ],
        audit_events=[
            AuditEvents("user", USER_ACTIONS, model="accounts.User"),
            AuditEvents(
                "api_key",
                ("api_key_created", "api_key_deleted", "read", "update"),
                model="accounts.ApiKey",
            ),
            AuditEvents("alert", ("create", "update", "delete"), model="accounts.Alert"),
            AuditEvents(
                "access_token", ("create", "delete", "update"), model="accounts.AccessToken"
            ),
            AuditEvents("encryption_keys", ("update", "settings_changed")),
        ],
        redis_keys=[_redis_keys],
    )
