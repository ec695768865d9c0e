"""Database-level tenant isolation, kept in step with the models.

After every ``migrate`` this module makes sure, for every concrete subclass of
``TenantModel``:

* row-level security is enabled **and forced** (so the owner is bound too),
  with a policy comparing ``tenant_id`` to
  ``NULLIF(current_setting('app.tenant_id', true), '')`` — no tenant set means
  no rows, not an error — for every command, plus (only where a model asks
  for it) a SELECT-only policy that widens reads, never writes;
* ``UNIQUE (tenant_id, id)`` exists, and every foreign key to another
  tenant-owned table is also enforced as a composite
  ``(tenant_id, <fk>) REFERENCES other (tenant_id, id)``, so no row can point
  at another tenant's row whatever SQL is run;
* the application role may read and write the table (``append_only`` tables:
  read and insert only).

Every statement is idempotent, so it is safe to run after each migration and
it covers tables added by later migrations without a list to maintain.
"""

from __future__ import annotations

import hashlib

from django.apps import apps
from django.conf import settings
from django.db import connection, models

from prm.tenancy.models import TenantModel

TENANT_SETTING = "NULLIF(current_setting('app.tenant_id', true), '')::bigint"


def tenant_models() -> list[type[TenantModel]]:
    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantModel) and model._meta.managed and not model._meta.proxy
    ]


def _name(*parts: str) -> str:
    name = "_".join(parts)
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{name[:54]}_{digest}"


def _constraint_exists(cursor, table: str, name: str) -> bool:
    cursor.execute(
        "SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = %s::regclass",
        [name, table],
    )
    return cursor.fetchone() is not None


def _q(identifier: str) -> str:
    return connection.ops.quote_name(identifier)


def tenant_foreign_keys(model: type[models.Model]) -> list[models.ForeignKey]:
    return [
        field
        for field in model._meta.local_fields
        if isinstance(field, models.ForeignKey)
        and field.name != "tenant"
        and isinstance(field.related_model, type)
        and issubclass(field.related_model, TenantModel)
        and field.name not in getattr(model, "composite_key_exempt", ())
    ]


def sync_tenant_security() -> None:
    # Only tables that exist: an app migrated back to zero has none.
    existing = set(connection.introspection.table_names())
    models_ = [model for model in tenant_models() if model._meta.db_table in existing]
    app_role = _q(settings.APP_DB_ROLE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [settings.APP_DB_ROLE])
        has_app_role = cursor.fetchone() is not None
        for model in models_:
            table = model._meta.db_table
            qt = _q(table)
            cursor.execute(f"ALTER TABLE {qt} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {qt} FORCE ROW LEVEL SECURITY")
            strict = f"tenant_id = {TENANT_SETTING}"
            cursor.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {qt}")
            cursor.execute(f"DROP POLICY IF EXISTS tenant_read ON {qt}")
            cursor.execute(f"DROP POLICY IF EXISTS tenant_write ON {qt}")
            # Writes (INSERT, UPDATE, DELETE) only ever touch the active tenant.
            cursor.execute(
                f"CREATE POLICY tenant_write ON {qt} USING ({strict}) WITH CHECK ({strict})"
            )
            if model.rls_extra_read_predicate:
                # A second, SELECT-only policy widens reads; permissive policies
                # are OR-ed per command, so it never applies to writes.
                cursor.execute(
                    f"CREATE POLICY tenant_read ON {qt} FOR SELECT "
                    f"USING ({model.rls_extra_read_predicate})"
                )
            unique = _name(table, "tenant_id_uniq")
            if not _constraint_exists(cursor, table, unique):
                cursor.execute(
                    f"ALTER TABLE {qt} ADD CONSTRAINT {_q(unique)} UNIQUE (tenant_id, id)"
                )
        for model in models_:
            table = model._meta.db_table
            for exempt in getattr(model, "composite_key_exempt", ()):
                exempt_field = model._meta.get_field(exempt)
                assert isinstance(exempt_field, models.ForeignKey)
                name = _name(table, exempt_field.column, "tenant_fk")
                cursor.execute(f"ALTER TABLE {_q(table)} DROP CONSTRAINT IF EXISTS {_q(name)}")
            for field in tenant_foreign_keys(model):
                name = _name(table, field.column, "tenant_fk")
                if _constraint_exists(cursor, table, name):
                    continue
                target = field.related_model._meta.db_table
                cursor.execute(
                    f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} "
                    f"FOREIGN KEY (tenant_id, {_q(field.column)}) "
                    f"REFERENCES {_q(target)} (tenant_id, id) DEFERRABLE INITIALLY DEFERRED"
                )
        if has_app_role:
            cursor.execute(f"GRANT USAGE ON SCHEMA public TO {app_role}")
            cursor.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app_role}"
            )
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app_role}")
            cursor.execute(f"REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {app_role}")
            for model in models_:
                if model.append_only:
                    cursor.execute(
                        f"REVOKE UPDATE, DELETE ON {_q(model._meta.db_table)} FROM {app_role}"
                    )


def sync_after_migrate(sender, using="default", **kwargs) -> None:
    # post_migrate fires once per app; the last one is enough but each is cheap
    # and idempotent, and running for every app keeps partial migrations safe.
    if sender.label != "tenancy":
        return
    if "plan" not in kwargs:
        # `flush` (used between transactional tests) also sends post_migrate,
        # as the application role; the schema has not changed, so skip.
        return
    sync_tenant_security()
