"""The active tenant and user, per thread, task or coroutine.

Everything that touches tenant-owned data runs inside ``tenant_context(tenant)``
(requests via the middleware, Celery tasks via ``prm.jobs.TenantTask``). The
database backend copies these values into ``app.tenant_id`` / ``app.user_id``
for each transaction, so row-level security agrees with the application.

``all_tenants()`` is the single escape hatch: it lets platform code use the
tenant managers without an active tenant. It does *not* lift row-level
security; platform code that must read several tenants iterates over them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prm.tenancy.models import Tenant


class TenantNotActive(RuntimeError):
    """Tenant-owned data was queried without an active tenant."""


_tenant: ContextVar[Tenant | None] = ContextVar("prm_tenant", default=None)
_user_id: ContextVar[int | None] = ContextVar("prm_user_id", default=None)
_crossing: ContextVar[bool] = ContextVar("prm_all_tenants", default=False)


def current_tenant() -> Tenant | None:
    return _tenant.get()


def require_tenant() -> Tenant:
    tenant = _tenant.get()
    if tenant is None:
        raise TenantNotActive(
            "No tenant is active. Wrap the code in tenant_context(tenant) "
            "(or all_tenants() for platform code)."
        )
    return tenant


def crossing_tenants() -> bool:
    return _crossing.get()


def current_user_id() -> int | None:
    return _user_id.get()


def db_context() -> tuple[str, str]:
    """The (tenant_id, user_id) pair the database session must see, as text."""
    tenant = _tenant.get()
    user_id = _user_id.get()
    return (str(tenant.pk) if tenant else "", str(user_id) if user_id else "")


@contextmanager
def tenant_context(tenant: Tenant | None) -> Iterator[Tenant | None]:
    token = _tenant.set(tenant)
    try:
        yield tenant
    finally:
        _tenant.reset(token)


@contextmanager
def user_context(user_id: int | None) -> Iterator[None]:
    token = _user_id.set(user_id)
    try:
        yield
    finally:
        _user_id.reset(token)


@contextmanager
def all_tenants() -> Iterator[None]:
    """Platform-only escape hatch: tenant managers stop raising without a tenant."""
    token = _crossing.set(True)
    try:
        yield
    finally:
        _crossing.reset(token)


def activate(tenant: Tenant | None) -> None:
    """Set the tenant without a context manager (tests and shells)."""
    _tenant.set(tenant)


def deactivate() -> None:
    _tenant.set(None)
    _user_id.set(None)
    _crossing.set(False)
