"""Production settings refuse to start without secrets and pass `check --deploy` cleanly."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS"}
    }
    environment.update(env, DJANGO_SETTINGS_MODULE="apextrade.settings.production")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_no_warnings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="k" * 20 + "Zq8-mW2#xP5!vR9@tY4$uI7%oL1^aS6&dF3*gH0",
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="apextrade.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage(
        "check",
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="apextrade.example.com",
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_encryption_keys():
    result = run_manage(
        "check", SECRET_KEY="x" * 60 + "Yy1!", ALLOWED_HOSTS="apextrade.example.com"
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr


GOOD_SECRET_KEY = "x" * 60 + "Yy1!"


def test_production_refuses_the_development_encryption_key_even_as_an_old_key():
    result = run_manage(
        "check",
        SECRET_KEY=GOOD_SECRET_KEY,
        FIELD_ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},"
        "dGVzdC1vbmx5LWtleS1kby1ub3QtdXNlLWluLXByb2Q=",
        ALLOWED_HOSTS="apextrade.example.com",
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS key 2 is the public development key" in result.stderr


def test_production_refuses_a_malformed_encryption_key():
    result = run_manage(
        "check",
        SECRET_KEY=GOOD_SECRET_KEY,
        FIELD_ENCRYPTION_KEYS="not-a-fernet-key",
        ALLOWED_HOSTS="apextrade.example.com",
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS key 1 is not a Fernet key" in result.stderr


def test_production_refuses_a_wildcard_in_allowed_hosts():
    result = run_manage(
        "check",
        SECRET_KEY=GOOD_SECRET_KEY,
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="apextrade.example.com,*",
    )
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must name the site's host names" in result.stderr
