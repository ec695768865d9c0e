"""Shared REST plumbing: authentication, tenant/role permissions, pagination, errors.

Every endpoint lives on a tenant's host, so the tenant is already active when
a request reaches a view. Callers authenticate with a personal token
(``Authorization: Token …``, valid only where the user holds a membership), a
tenant API key (``Authorization: Api-Key …``, acting with a staff role), or
the browser session. Either way ``request.membership`` carries the role that
the permission classes and selectors use — the same rules as the web views.
"""
