"""Query-string filters for the deal, review-queue, extension, lead and account
endpoints (django-filter).

Filters only narrow the queryset a selector already scoped to the caller, so a
partner user who filters by another partner's id simply gets nothing. Ids are
integers and read as such; an invalid value is a 400 with the field named.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters

from deals.lead_selectors import PartnerLeadState
from deals.models import (
    Account,
    DealLine,
    DealRegistration,
    ExtensionRequest,
    Lead,
    Product,
)
from deals.window import tenant_today
from prm.accounts.roles import Capability, can
from prm.api.permissions import membership_of

Stage = DealRegistration.Stage
ALL = "all"


class IntegerFilter(filters.NumberFilter):
    """A whole number (an id, a count of days); "1.5" is refused, not rounded."""

    field_class = forms.IntegerField


class DealFilter(filters.FilterSet):
    stage = filters.MultipleChoiceFilter(
        choices=Stage.choices, help_text=_("One or more stages; repeat the parameter to combine.")
    )
    partner = IntegerFilter(field_name="partner_id", help_text=_("Partner organisation id."))
    product = IntegerFilter(
        method="filter_product", help_text=_("Deals with a line for this product id.")
    )
    expiring_within_days = IntegerFilter(
        method="filter_expiring",
        min_value=0,
        max_value=366,
        help_text=_(
            "Protected deals whose protection ends between today and this many days from "
            "today (in the tenant's time zone)."
        ),
    )
    is_conflict = filters.BooleanFilter(help_text=_("Only registrations that may conflict."))

    class Meta:
        model = DealRegistration
        fields = ["stage", "partner", "product", "expiring_within_days", "is_conflict"]

    def filter_product(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        return queryset.filter(
            Exists(DealLine.objects.filter(deal=OuterRef("pk"), product_id=value))
        )

    def filter_expiring(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        today = tenant_today()
        return queryset.filter(
            stage__in=DealRegistration.PROTECTED_STAGES,
            protected_until__gte=today,
            protected_until__lte=today + timedelta(days=value),
        )


class _QueueFilter(filters.FilterSet):
    """A work queue: without a status it shows what waits for staff; ``all``
    shows everything."""

    status_field = ""
    waiting = ""

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get(self.status_field):
            queryset = queryset.filter(**{self.status_field: self.waiting})
        return queryset

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == ALL:
            return queryset
        return queryset.filter(**{name: value})


class RegistrationFilter(_QueueFilter):
    status_field = "stage"
    waiting = Stage.SUBMITTED

    stage = filters.ChoiceFilter(
        choices=[(ALL, _("All stages")), *Stage.choices],
        method="filter_status",
        help_text=_('The review queue shows submitted registrations; "all" shows every stage.'),
    )
    partner = IntegerFilter(field_name="partner_id", help_text=_("Partner organisation id."))
    is_conflict = filters.BooleanFilter(help_text=_("Only registrations that may conflict."))

    class Meta:
        model = DealRegistration
        fields = ["stage", "partner", "is_conflict"]


class ExtensionRequestFilter(_QueueFilter):
    status_field = "status"
    waiting = ExtensionRequest.Status.PENDING

    status = filters.ChoiceFilter(
        choices=[(ALL, _("All")), *ExtensionRequest.Status.choices],
        method="filter_status",
        help_text=_('Pending requests by default; "all" shows every request.'),
    )
    partner = IntegerFilter(field_name="deal__partner_id", help_text=_("Partner organisation id."))
    deal = IntegerFilter(field_name="deal_id", help_text=_("Deal registration id."))

    class Meta:
        model = ExtensionRequest
        fields = ["status", "partner", "deal"]


class LeadFilter(filters.FilterSet):
    """Staff filter the tenant's leads by what the vendor knows of them; a partner
    user filters only by where each lead stands *for their organisation*.

    The filters of the other audience are dropped for the request (and ignored
    if sent), so a partner can never probe a lead's status with another
    partner, nor who holds it.
    """

    STAFF_ONLY = ("status", "partner", "country", "industry", "external_id")
    PARTNER_ONLY = ("state",)

    search = filters.CharFilter(
        method="filter_search",
        help_text=_(
            "Looks in the reference and company (staff: also the contact e-mail and the "
            "exact external id)."
        ),
    )
    state = filters.ChoiceFilter(
        choices=PartnerLeadState.choices,
        method="filter_state",
        help_text=_("Partner users: where the lead stands for your organisation."),
    )
    status = filters.MultipleChoiceFilter(
        choices=Lead.Status.choices,
        help_text=_("Staff: one or more statuses; repeat the parameter to combine."),
    )
    partner = IntegerFilter(
        field_name="partner_id",
        help_text=_("Staff: id of the partner organisation holding the lead."),
    )
    country = filters.CharFilter(
        method="filter_country", help_text=_("Staff: two-letter ISO country code, e.g. MY.")
    )
    industry = filters.CharFilter(
        field_name="industry", lookup_expr="iexact", help_text=_("Staff: the lead's industry.")
    )
    external_id = filters.CharFilter(
        field_name="external_id", help_text=_("Staff: your system's id for the lead.")
    )

    class Meta:
        model = Lead
        fields = ["search", "state", "status", "partner", "country", "industry", "external_id"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.for_staff = self.request is None or can(
            membership_of(self.request), Capability.VIEW_ALL_PARTNERS
        )
        for name in self.PARTNER_ONLY if self.for_staff else self.STAFF_ONLY:
            self.filters.pop(name)

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        condition = Q(company__icontains=value) | Q(reference__icontains=value)
        if self.for_staff:
            condition |= Q(contact_email__icontains=value) | Q(external_id=value)
        return queryset.filter(condition)

    def filter_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(partner_state=value)

    def filter_country(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(country=value.strip().upper())


class AccountFilter(filters.FilterSet):
    kind = filters.MultipleChoiceFilter(
        choices=Account.Kind.choices,
        help_text=_("One or more kinds; repeat the parameter to combine."),
    )
    country = filters.CharFilter(
        method="filter_country", help_text=_("Two-letter ISO country code, e.g. MY.")
    )
    is_active = filters.BooleanFilter()
    external_id = filters.CharFilter(field_name="external_id")

    class Meta:
        model = Account
        fields = ["kind", "country", "is_active", "external_id"]

    def filter_country(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(country=value.strip().upper())


class ProductFilter(filters.FilterSet):
    product_line = filters.CharFilter(field_name="product_line", lookup_expr="iexact")
    is_active = filters.BooleanFilter(help_text=_("Staff only: partner users see active products."))

    class Meta:
        model = Product
        fields = ["product_line", "is_active"]
