"""Broker credentials in clear text, in memory only, and the permission check on them.

`decrypt_api_key` is the one place an `api_keys` row is decrypted. The result hides its values
from repr/str and refuses to be pickled, so it cannot end up in a log line, a Celery message or a
cache entry by accident.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exchanges.errors import PermissionMissing

if TYPE_CHECKING:  # accounts imports nothing from here; the model is only a type.
    from accounts.models import ApiKey

TRADE = "trade"
READ = "read"


@dataclass(frozen=True, slots=True)
class BrokerCredentials:
    exchange: str
    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)
    permissions: frozenset[str] = frozenset({READ})
    is_testnet: bool = True

    def __str__(self) -> str:
        return repr(self)

    def __reduce__(self):
        raise TypeError("Broker credentials are not serialisable; pass the api_keys id instead.")

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(value for value in (self.api_key, self.secret, self.passphrase) if value)

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionMissing(
                f"This {self.exchange} key lacks the '{permission}' permission "
                f"(it has: {', '.join(sorted(self.permissions)) or 'none'})."
            )


def decrypt_api_key(api_key: "ApiKey") -> BrokerCredentials:
    """The clear credentials of an `api_keys` row (decrypted with FIELD_ENCRYPTION_KEYS)."""
    from accounts.credential_encryption import decrypt_credential

    return BrokerCredentials(
        exchange=api_key.exchange,
        api_key=decrypt_credential(api_key.api_key_encrypted),
        secret=decrypt_credential(api_key.api_secret_encrypted),
        passphrase=(
            decrypt_credential(api_key.passphrase_encrypted)
            if api_key.passphrase_encrypted
            else None
        ),
        permissions=frozenset(api_key.permissions or ()),
        is_testnet=bool(api_key.is_testnet),
    )
