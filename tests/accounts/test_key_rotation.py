"""manage.py rotate_encryption_keys: every secret column (broker credentials, TOTP secrets)
re-encrypted under the first key, in batches, while the old keys still decrypt."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from accounts.credential_encryption import (
    decrypt_credential,
    decrypt_text_secret,
    encrypt_text_secret,
)
from accounts.models import ApiKey
from compliance.models import AuditLog
from tests.factories import ApiKeyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_key(settings) -> str:
    return settings.FIELD_ENCRYPTION_KEYS[0]


def under_key(key: str, token: bytes | memoryview | str) -> bool:
    raw = token.encode() if isinstance(token, str) else bytes(token)
    try:
        Fernet(key).decrypt(raw)
    except Exception:
        return False
    return True


def test_rotation_reencrypts_every_secret_under_the_first_key_in_batches(settings, old_key, capsys):
    keys = ApiKeyFactory.create_batch(3, passphrase_encrypted=None)
    keys[0].passphrase_encrypted = encrypt_text_secret("passphrase").encode()
    keys[0].save(update_fields=["passphrase_encrypted"])
    user = UserFactory(mfa_secret=encrypt_text_secret("JBSWY3DPEHPK3PXP"), mfa_enabled=True)
    UserFactory()  # no secret: nothing to do
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_encryption_keys", "--batch-size", "2")

    out = capsys.readouterr().out
    assert "api_keys.api_key_encrypted: 3 re-encrypted, 0 already under the first key" in out
    assert "api_keys.passphrase_encrypted: 1 re-encrypted" in out
    assert "users.mfa_secret: 1 re-encrypted" in out
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key can now go
    for key in ApiKey.objects.all():
        assert under_key(new_key, key.api_key_encrypted)
        assert decrypt_credential(key.api_secret_encrypted) == "factory-api-secret-CLEARTEXT"
    user.refresh_from_db()
    assert decrypt_text_secret(user.mfa_secret) == "JBSWY3DPEHPK3PXP"
    batches = AuditLog.objects.filter(resource_type="encryption_keys")
    assert [row.metadata["rows_reencrypted"] for row in batches.order_by("id")] == [2, 1, 1]


def test_a_second_run_changes_nothing(settings, old_key, capsys):
    api_key = ApiKeyFactory()
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_keys")
    api_key.refresh_from_db()
    first = bytes(api_key.api_key_encrypted)
    capsys.readouterr()

    call_command("rotate_encryption_keys")

    api_key.refresh_from_db()
    assert bytes(api_key.api_key_encrypted) == first
    assert "api_keys.api_key_encrypted: 0 re-encrypted, 1 already under" in capsys.readouterr().out


def test_a_value_no_key_decrypts_fails_the_command_and_the_rest_is_rotated(settings, old_key):
    good = ApiKeyFactory()
    lost = ApiKeyFactory(api_key_encrypted=Fernet(Fernet.generate_key()).encrypt(b"lost"))
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    with pytest.raises(CommandError, match=f"api_keys.api_key_encrypted of {lost.pk}"):
        call_command("rotate_encryption_keys")

    good.refresh_from_db()
    assert under_key(new_key, good.api_key_encrypted)


def test_a_bad_batch_size_is_refused():
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("rotate_encryption_keys", "--batch-size", "0")
