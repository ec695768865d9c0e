"""Test set-up: real PostgreSQL with the owner/app role split, real Redis.

The test database is created and migrated as the *owner* role (as in
production), then every test runs connected as the *app* role, which row-level
security binds. Tests activate a tenant explicitly, as requests and tasks do.
"""

from __future__ import annotations

import dj_database_url
import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.test.utils import setup_databases, teardown_databases

from prm.tenancy.context import deactivate, tenant_context

pytest_plugins = ["tests.browser_fixtures"]


def _credentials(url: str) -> dict:
    parsed = dj_database_url.parse(url)
    return {"USER": parsed["USER"], "PASSWORD": parsed["PASSWORD"]}


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker):
    owner = _credentials(settings.DATABASE_OWNER_URL)
    app = _credentials(settings.DATABASE_URL)
    connection = connections["default"]
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(owner)
        config = setup_databases(verbosity=0, interactive=False, keepdb=False)
        with connection.cursor() as cursor:
            # Transactional tests empty tables with TRUNCATE between tests; only
            # the test database grants it (TRUNCATE is not subject to RLS).
            cursor.execute(
                f"GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO {settings.APP_DB_ROLE}"
            )
        connection.close()
        connection.settings_dict.update(app)
    yield
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict.update(owner)
        teardown_databases(config, verbosity=0)


@pytest.fixture(autouse=True)
def _clean_context():
    deactivate()
    yield
    deactivate()


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield


@pytest.fixture
def tenant_a(db):
    from tests.factories import TenantFactory

    return TenantFactory(
        slug="alpha", name="Alpha Cloud", default_language="zh-hans", default_currency="CNY"
    )


@pytest.fixture
def tenant_b(db):
    from tests.factories import TenantFactory

    return TenantFactory(
        slug="bravo", name="Bravo SaaS", default_language="ms", default_currency="MYR"
    )


@pytest.fixture
def in_tenant():
    """Use as ``with in_tenant(t): …`` to run code as that tenant."""
    return tenant_context
