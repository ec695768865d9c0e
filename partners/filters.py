"""Query-string filters for the partner and user endpoints (django-filter).

Tiers and partner types are filtered by their ``key`` (stable across tenants'
seed data and readable in a URL), never by looking rows up here, so a filter
cannot reach outside the queryset a selector already scoped.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters

from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role


class PartnerFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(
        choices=PartnerOrganization.Status.choices,
        help_text=_("One or more statuses; repeat the parameter to combine."),
    )
    tier = filters.CharFilter(field_name="tier__key", help_text=_("Tier key, e.g. gold."))
    partner_type = filters.CharFilter(
        field_name="partner_type__key", help_text=_("Partner type key, e.g. reseller.")
    )
    country = filters.CharFilter(
        method="filter_country", help_text=_("Two-letter ISO country code, e.g. MY.")
    )

    class Meta:
        model = PartnerOrganization
        fields = ["status", "tier", "partner_type", "country"]

    def filter_country(self, queryset, name, value):
        return queryset.filter(country=value.strip().upper())


class MembershipFilter(filters.FilterSet):
    role = filters.MultipleChoiceFilter(choices=Role.choices)
    partner = filters.NumberFilter(field_name="partner_id", help_text=_("Partner organisation id."))
    is_active = filters.BooleanFilter()

    class Meta:
        model = Membership
        fields = ["role", "partner", "is_active"]
