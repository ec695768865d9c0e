"""Shared-schema multi-tenancy that fails closed.

* ``context`` holds the active tenant (and user) for the current thread or task.
* ``models.TenantModel`` is the base of every tenant-owned table; its manager
  raises :class:`TenantNotActive` when no tenant is active.
* ``security`` keeps PostgreSQL row-level security, composite
  ``(tenant_id, id)`` foreign keys and the application role's grants in step
  with the models after every ``migrate``.
* ``prm.db.backend`` sets ``app.tenant_id`` per transaction so that RLS sees
  the same tenant as the application.
"""
