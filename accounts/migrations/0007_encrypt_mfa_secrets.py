"""users.mfa_secret is encrypted at rest like the broker credentials: every clear value is
replaced by its Fernet token under the first of settings.FIELD_ENCRYPTION_KEYS.

This migration keeps its own copy of the cipher (cryptography's MultiFernet over the settings'
keys) rather than importing accounts.credential_encryption, so that later changes there never
change what it does. A Fernet token always starts with "gAAAAA" (version byte 0x80); a TOTP
secret is base32 (A-Z, 2-7), so a value is never mistaken for the other."""

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.db import migrations

FERNET_TOKEN_START = "gAAAAA"
BATCH = 500


def _cipher() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS])


def encrypt_clear_secrets(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    cipher = None
    clear = User.objects.filter(mfa_secret__isnull=False).exclude(
        mfa_secret__startswith=FERNET_TOKEN_START
    )
    for user in clear.only("pk", "mfa_secret").iterator(chunk_size=BATCH):
        cipher = cipher or _cipher()
        user.mfa_secret = cipher.encrypt(user.mfa_secret.encode()).decode()
        user.save(update_fields=["mfa_secret"])


def decrypt_secrets(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    cipher = None
    encrypted = User.objects.filter(mfa_secret__startswith=FERNET_TOKEN_START)
    for user in encrypted.only("pk", "mfa_secret").iterator(chunk_size=BATCH):
        cipher = cipher or _cipher()
        user.mfa_secret = cipher.decrypt(user.mfa_secret.encode()).decode()
        user.save(update_fields=["mfa_secret"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_access_tokens_and_mfa_recovery_codes")]

    operations = [migrations.RunPython(encrypt_clear_secrets, decrypt_secrets, elidable=False)]
