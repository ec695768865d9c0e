"""OpenAPI description of the API's own plumbing (drf-spectacular extensions).

Imported by ``prm.api.urls`` so the extensions are registered before any
schema is generated, whether by ``/api/schema/`` or ``manage.py spectacular``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers

from prm.tenancy.context import all_tenants


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "prm.api.authentication.MembershipTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": _(
                'A personal token: "Token <key>". It acts with your membership in the '
                "tenant whose host you call."
            ),
        }


class TenantApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "prm.api.authentication.TenantApiKeyAuthentication"
    name = "tenantApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": _(
                'A tenant API key for integrations: "Api-Key <key>". Valid only on its '
                "tenant's host; acts with the staff role chosen when it was created."
            ),
        }


class TenantSafeDjangoFilterExtension(DjangoFilterExtension):
    """django-filter's extension builds ``Model.objects.none()`` to pick the
    filterset; the tenant manager refuses that without an active tenant (as in
    ``manage.py spectacular``). An empty queryset reads no rows, so the escape
    hatch is safe here, and row-level security would still apply."""

    priority = 1

    def get_schema_operation_parameters(self, auto_schema, *args, **kwargs):
        with all_tenants():
            return super().get_schema_operation_parameters(auto_schema, *args, **kwargs)


class ErrorSerializer(serializers.Serializer):
    """The body of every error response except field validation errors."""

    code = serializers.CharField(help_text=_("Stable, machine-readable error code."))
    detail = serializers.CharField(help_text=_("Human-readable message in the caller's language."))
    field = serializers.CharField(
        allow_null=True, help_text=_("The request field the error concerns, if any.")
    )
