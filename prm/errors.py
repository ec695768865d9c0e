"""Domain errors: one small hierarchy that views, API and console translate.

A service raises ``DomainError`` (or a subclass) with a translatable,
user-facing message and a stable machine-readable ``code``. Portal views turn
it into a form or page message, the API into a 400/403/404 with ``code``, the
console into an admin message — never a 500.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "invalid"
    status = 400
    default_message = _("The request could not be completed.")

    def __init__(self, message=None, *, code: str | None = None, field: str | None = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.field = field
        super().__init__(str(self.message))


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    default_message = _("You do not have permission to do that.")


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _("Not found.")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = _("That conflicts with the current state.")
