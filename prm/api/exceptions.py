"""Turn errors into API responses with a machine-readable code.

Every error body has ``code`` and ``detail``; domain errors also name the
``field`` they concern (``null`` when none). Serializer validation errors keep
DRF's ``{field: [messages]}`` shape, which clients already know how to map
onto forms. Whatever the error, the request's transaction is rolled back, so a
service that fails half-way never leaves a partial write behind.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from prm.errors import DomainError
from prm.tenancy.context import TenantNotActive


def _error(code: str, detail, http_status: int, field: str | None = None) -> Response:
    set_rollback()
    return Response({"code": code, "detail": detail, "field": field}, status=http_status)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return _error(exc.code, str(exc.message), exc.status, exc.field)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return _error("invalid", detail, status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, TenantNotActive):
        return _error("no_tenant", str(exc), status.HTTP_404_NOT_FOUND)
    if isinstance(exc, Http404):
        # Django's message names the model; an outsider learns nothing from ours.
        exc = exceptions.NotFound(_("Not found."))
    response = drf_exception_handler(exc, context)
    if (
        response is not None
        and isinstance(exc, exceptions.APIException)
        and not isinstance(exc, exceptions.ValidationError)
        and isinstance(response.data, dict)
    ):
        codes = exc.get_codes()
        response.data = {
            "code": codes if isinstance(codes, str) else "error",
            "detail": response.data.get("detail", str(exc.detail)),
            "field": None,
        }
    return response
