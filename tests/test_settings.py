"""Production settings refuse development secrets and pass Django's deploy checks.

Each case starts a fresh interpreter: the settings module decides at import
time, and the test process has already imported the test settings.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from prm.settings.base import DEV_SECRET_KEY

ROOT = Path(__file__).resolve().parent.parent
# A database nobody listens on: production settings must load (and the deploy
# checks must pass) without opening a connection.
PRODUCTION_DATABASE_URL = "postgres://prm_app:not-the-dev-password@127.0.0.1:1/prm"
DEV_DATABASE_URL = "postgres://prm_app:prm_app_dev@127.0.0.1:54329/prm"
SETUP = (
    "import django; from django.conf import settings; django.setup(); "
    "print('DEBUG', settings.DEBUG, 'SECURE', settings.SESSION_COOKIE_SECURE)"
)


def random_key() -> str:
    return secrets.token_urlsafe(64)


def run_production(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Only what a deployment would set: nothing leaks in from the test process
    # (development database URLs, test-only switches such as DJANGO_ALLOW_ASYNC_UNSAFE).
    environment = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "prm.settings.production",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    environment.update(env)
    return subprocess.run(  # noqa: S603 - fixed arguments: this interpreter, this repo
        [sys.executable, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_to_start_without_field_encryption_keys():
    result = run_production(
        "-c",
        SETUP,
        SECRET_KEY=random_key(),
        DATABASE_URL=PRODUCTION_DATABASE_URL,
        FIELD_ENCRYPTION_KEYS="",
    )

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr


def test_production_starts_with_a_random_key_and_a_real_database_url():
    result = run_production(
        "-c", SETUP, SECRET_KEY=random_key(), DATABASE_URL=PRODUCTION_DATABASE_URL
    )

    assert result.returncode == 0, result.stderr
    assert "DEBUG False SECURE True" in result.stdout


@pytest.mark.parametrize(
    ("name", "secret_key"),
    [
        ("development key", DEV_SECRET_KEY),
        ("short key", "x7Qp-short-but-not-the-dev-key"),
    ],
)
def test_production_refuses_a_weak_secret_key(name, secret_key):
    result = run_production(
        "-c", SETUP, SECRET_KEY=secret_key, DATABASE_URL=PRODUCTION_DATABASE_URL
    )

    assert result.returncode != 0, name
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = run_production("-c", SETUP, DATABASE_URL=PRODUCTION_DATABASE_URL)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_the_development_database_password():
    result = run_production("-c", SETUP, SECRET_KEY=random_key(), DATABASE_URL=DEV_DATABASE_URL)

    assert result.returncode != 0
    assert "DATABASE_URL uses the development password" in result.stderr


def test_deploy_checks_pass_under_production_settings():
    result = run_production(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=random_key(),
        DATABASE_URL=PRODUCTION_DATABASE_URL,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
