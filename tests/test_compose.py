"""docker-compose.yml and the Dockerfile agree with the settings and the code.

No Docker engine runs here, so these tests read the files and check every
service's command and variables against what the code actually provides: the
variables the settings read, the modules the commands name, the roles the
PostgreSQL init script creates.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from celery import Celery
from cryptography.fernet import Fernet
from django.core.management import get_commands
from django.urls import resolve

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
INIT_SQL = "\n".join(path.read_text() for path in sorted((ROOT / "docker").glob("postgres/*.sql")))
APP_SERVICES = ("migrate", "web", "worker", "beat")
RUNTIME_SERVICES = ("web", "worker", "beat")

# os.environ.get("X" / os.environ["X" / os.getenv("X" / env_bool("X" / env_list("X"
_READS_ENV = re.compile(
    r"(?:os\.environ\.get\(|os\.environ\[|os\.getenv\(|env_bool\(|env_list\()\s*\"([A-Z][A-Z0-9_]*)\""
)
# Variables a production deployment must set: without them it either refuses
# to start or runs with development values (localhost hosts, console e-mail).
REQUIRED_IN_PRODUCTION = {
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "DATABASE_URL",
    "REDIS_URL",
    "ALLOWED_HOSTS",
    "PLATFORM_HOST",
    "TENANT_SUBDOMAIN_BASE",
    "CSRF_TRUSTED_ORIGINS",
    "EMAIL_HOST",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "DEFAULT_FROM_EMAIL",
}
# Read by Django or Celery themselves rather than by our settings modules.
READ_BY_FRAMEWORK = {"DJANGO_SETTINGS_MODULE"}


def settings_variables() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "prm" / "settings").glob("*.py"):
        names.update(_READS_ENV.findall(path.read_text()))
    return names


# The `.env` an operator writes next to docker-compose.yml (README, "Docker compose").
DOTENV = {
    "SECRET_KEY": secrets.token_urlsafe(64),
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "POSTGRES_PASSWORD": "superuser-secret",
    "PRM_OWNER_DB_PASSWORD": "owner-secret",
    "PRM_APP_DB_PASSWORD": "app-secret",
}
_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    """Compose would refuse to start: a ${NAME:?…} variable is unset."""


def interpolate(value: str, dotenv: Mapping[str, str]) -> str:
    """Compose's substitution: ${NAME}, ${NAME:-default}, ${NAME:?error}, $$."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        current = dotenv.get(name)
        unset = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in {":?", "?"} and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in {":-", "-"} and unset:
            return arg
        return current or ""

    return _INTERPOLATION.sub(substitute, value)


def raw_environment(service: str) -> dict[str, str]:
    return {key: str(value) for key, value in SERVICES[service]["environment"].items()}


def environment(service: str, dotenv: Mapping[str, str] = DOTENV) -> dict[str, str]:
    """The service's environment as compose would hand it to the container."""
    return {key: interpolate(value, dotenv) for key, value in raw_environment(service).items()}


def command(service: str) -> list[str]:
    value = SERVICES[service]["command"]
    return value.split() if isinstance(value, str) else [str(part) for part in value]


def test_the_settings_scan_finds_the_variables_we_know_about():
    # Guards the regex: if it stopped matching, the tests below would pass vacuously.
    assert {"SECRET_KEY", "DATABASE_URL", "PRM_DB_AS_OWNER", "ALLOWED_HOSTS", "EMAIL_USE_TLS"} <= (
        settings_variables()
    )
    assert settings_variables() >= REQUIRED_IN_PRODUCTION


def test_the_stack_has_every_service():
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(SERVICES)


@pytest.mark.parametrize("service", RUNTIME_SERVICES)
def test_runtime_services_get_every_variable_production_needs(service):
    missing = REQUIRED_IN_PRODUCTION - set(environment(service))

    assert not missing, f"{service} lacks {sorted(missing)}"
    assert environment(service)["DJANGO_SETTINGS_MODULE"] == "prm.settings.production"


@pytest.mark.parametrize(
    ("service", "secret"),
    [
        ("web", "SECRET_KEY"),
        ("web", "PRM_APP_DB_PASSWORD"),
        ("migrate", "PRM_OWNER_DB_PASSWORD"),
        ("postgres", "POSTGRES_PASSWORD"),
    ],
)
def test_compose_refuses_to_start_without_each_secret(service, secret):
    dotenv = {name: value for name, value in DOTENV.items() if name != secret}

    with pytest.raises(MissingVariable, match=secret):
        environment(service, dotenv)


@pytest.mark.parametrize("service", ["web", "migrate"])
def test_the_production_settings_accept_the_environment_compose_builds(service):
    env = environment(service)
    env["PATH"] = os.environ["PATH"]

    result = subprocess.run(  # noqa: S603 - fixed arguments: this interpreter, this repo
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_web_worker_and_beat_share_one_environment():
    assert environment("web") == environment("worker") == environment("beat")


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_variable_compose_sets_is_read_by_the_settings(service):
    unknown = set(environment(service)) - settings_variables() - READ_BY_FRAMEWORK

    assert not unknown, f"{service} sets variables no setting reads: {sorted(unknown)}"


def test_the_named_settings_module_exists_in_compose_and_the_image():
    for service in APP_SERVICES:
        module = environment(service)["DJANGO_SETTINGS_MODULE"]
        assert importlib.util.find_spec(module) is not None, module
    assert "DJANGO_SETTINGS_MODULE=prm.settings.production" in DOCKERFILE


def test_migrate_runs_once_as_the_owner_before_anything_else_starts():
    env = environment("migrate")
    assert env["PRM_DB_AS_OWNER"] == "1"
    assert urlsplit(env["DATABASE_OWNER_URL"]).username == "prm_owner"
    assert urlsplit(env["DATABASE_OWNER_URL"]).password == DOTENV["PRM_OWNER_DB_PASSWORD"]
    assert command("migrate")[:3] == ["python", "manage.py", "migrate"]
    assert "migrate" in get_commands()
    assert SERVICES["migrate"]["restart"] == "no"
    for service in RUNTIME_SERVICES:
        depends = SERVICES[service]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", service
        assert depends["postgres"]["condition"] == "service_healthy", service
        assert depends["redis"]["condition"] == "service_healthy", service


@pytest.mark.parametrize("service", RUNTIME_SERVICES)
def test_the_running_app_never_holds_the_owner_credentials(service):
    env = environment(service)

    assert "DATABASE_OWNER_URL" not in env
    assert "PRM_DB_AS_OWNER" not in env
    assert urlsplit(env["DATABASE_URL"]).username == "prm_app"


def test_the_init_script_creates_both_roles_the_urls_use():
    owner = urlsplit(environment("migrate")["DATABASE_OWNER_URL"])
    app = urlsplit(environment("web")["DATABASE_URL"])
    assert re.search(rf"CREATE ROLE {app.username} LOGIN NOSUPERUSER NOBYPASSRLS", INIT_SQL)
    assert re.search(rf"CREATE ROLE {owner.username} LOGIN NOSUPERUSER", INIT_SQL)
    assert re.search(rf"CREATE DATABASE {app.path.lstrip('/')} OWNER {owner.username}", INIT_SQL)
    assert app.hostname == owner.hostname == "postgres"
    # The passwords the URLs carry are the ones the script sets.
    script_reads = re.findall(r"\\getenv (\w+) (\w+)", INIT_SQL)
    assert {name for _var, name in script_reads} == {
        "PRM_OWNER_DB_PASSWORD",
        "PRM_APP_DB_PASSWORD",
    }
    for variable, _name in script_reads:
        assert f"PASSWORD :'{variable}'" in INIT_SQL
    postgres_env = environment("postgres")
    assert postgres_env["PRM_OWNER_DB_PASSWORD"] == owner.password
    assert postgres_env["PRM_APP_DB_PASSWORD"] == app.password
    assert "./docker/postgres:/docker-entrypoint-initdb.d:ro" in SERVICES["postgres"]["volumes"]


def test_redis_url_points_at_the_redis_service():
    assert urlsplit(environment("web")["REDIS_URL"]).hostname == "redis"


def test_web_serves_the_real_wsgi_application():
    argv = command("web")
    assert argv[0] == "gunicorn"
    module_name, attribute = next(arg for arg in argv[1:] if not arg.startswith("-")).split(":")

    application = getattr(importlib.import_module(module_name), attribute)

    assert callable(application)


@pytest.mark.parametrize(("service", "subcommand"), [("worker", "worker"), ("beat", "beat")])
def test_worker_and_beat_run_the_real_celery_app(service, subcommand):
    argv = command(service)
    assert argv[:2] == ["celery", "-A"]
    assert subcommand in argv
    # `celery -A prm` finds prm.celery.app.
    app = importlib.import_module(f"{argv[2]}.celery").app

    assert isinstance(app, Celery)
    assert app.main == argv[2]


def test_healthchecks_watch_postgres_redis_web_and_worker():
    for service in ("postgres", "redis", "web", "worker"):
        assert SERVICES[service]["healthcheck"]["test"], service
    assert resolve("/health/", urlconf="prm.urls_platform").url_name == "health"


@pytest.mark.django_db(transaction=True)
def test_the_web_healthcheck_passes_against_a_running_server(live_server):
    test = SERVICES["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    port = urlsplit(live_server.url).port
    code = test[3].replace("8000", str(port))

    result = subprocess.run(  # noqa: S603 - the compose file's own health check
        [sys.executable, "-c", code],
        env={"PLATFORM_HOST": "localhost"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_the_image_installs_exactly_the_lock_file():
    assert re.search(r"^FROM python:3\.12-slim$", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^COPY pyproject\.toml uv\.lock \./$", DOCKERFILE, re.MULTILINE)
    assert re.search(r"uv sync --frozen --no-dev", DOCKERFILE)
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert makefile_uv and f'"uv=={makefile_uv.group(1)}"' in DOCKERFILE


def test_the_image_has_weasyprint_libraries_static_files_and_a_non_root_user():
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz0b", "fonts-noto-cjk"):
        assert package in DOCKERFILE
    assert "manage.py collectstatic" in DOCKERFILE
    user = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert user and user[-1] not in {"root", "0"}


def test_the_build_context_leaves_out_local_environments_and_data():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".devdata", ".git", ".env"} <= set(ignored)


def test_the_readme_documents_every_variable_the_settings_read():
    readme = (ROOT / "README.md").read_text()

    undocumented = {name for name in settings_variables() if f"`{name}`" not in readme}

    assert not undocumented, f"add to README.md's configuration table: {sorted(undocumented)}"
