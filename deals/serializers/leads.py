"""Leads: staff and partner views, input and routing results."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deals.forms import country_code, website_or_domain
from deals.lead_selectors import PARTNER_HOLDS, PartnerLeadState
from deals.leads import DEFAULT_CLOSE_DAYS
from deals.models import (
    CompanySize,
    DealRegistration,
    Lead,
    LeadAssignment,
)
from deals.serializers.fields import (
    AssignmentOutcomeField,
    CurrencyField,
    LeadStatusField,
    PartnerRefSerializer,
    PersonField,
    _money,
)

# --- leads ----------------------------------------------------------------------


class LeadInputSerializer(serializers.Serializer):
    """One lead brought in by staff or an integration."""

    company = serializers.CharField(max_length=200)
    contact_name = serializers.CharField(max_length=200)
    contact_email = serializers.EmailField(max_length=254)
    country = serializers.CharField(
        max_length=2, validators=[country_code], help_text=_("Two-letter code, like MY.")
    )
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    website = serializers.CharField(
        max_length=253, required=False, allow_blank=True, validators=[website_or_domain]
    )
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=60, required=False, allow_blank=True)
    company_size = serializers.ChoiceField(
        choices=CompanySize.choices, required=False, allow_blank=True
    )
    estimated_amount = _money(min_value=Decimal("0"), required=False, allow_null=True)
    currency = CurrencyField(
        required=False, allow_blank=True, help_text=_("Required with an estimated amount.")
    )
    # DRF's metaclass moves declared fields off the class, so this "source" does not
    # replace Field.source at run time; the stubs cannot know that.
    source = serializers.CharField(  # type: ignore[assignment]
        max_length=100, required=False, allow_blank=True
    )
    notes = serializers.CharField(required=False, allow_blank=True)
    external_id = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text=_("Your system's id for the lead; unique within the tenant."),
    )

    def validate_country(self, value: str) -> str:
        return value.upper()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("estimated_amount") is not None and not attrs.get("currency"):
            raise serializers.ValidationError({"currency": _("Give the amount's currency.")})
        return attrs


def lead_service_data(attrs: dict[str, Any]) -> dict[str, Any]:
    """Validated lead input as ``create_lead`` keyword arguments: empty optional
    values are left out, so the model's defaults apply."""
    return {name: value for name, value in attrs.items() if value not in (None, "")}


class LeadRefDealSerializer(serializers.ModelSerializer):
    class Meta:
        model = DealRegistration
        fields = ["id", "reference", "stage"]
        read_only_fields = fields


class LeadSerializer(serializers.ModelSerializer):
    """A lead as staff read it."""

    partner = PartnerRefSerializer(
        read_only=True, allow_null=True, help_text=_("The partner holding or offered the lead.")
    )
    status = LeadStatusField(read_only=True)
    currency = serializers.CharField(
        read_only=True, help_text=_("ISO 4217 code of the estimated amount; may be empty.")
    )
    deal = LeadRefDealSerializer(read_only=True, allow_null=True)
    created_by = PersonField(help_text=_("Null when an integration brought the lead in."))

    class Meta:
        model = Lead
        fields = [
            "id",
            "reference",
            "company",
            "contact_name",
            "contact_email",
            "phone",
            "website",
            "country",
            "region",
            "industry",
            "company_size",
            "estimated_amount",
            "currency",
            "source",
            "notes",
            "external_id",
            "status",
            "partner",
            "offered_at",
            "due_at",
            "accepted_at",
            "deal",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class PartnerLeadDealSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()


class WhileHeldField(serializers.CharField):
    """A lead's detail the partner reads only while the lead is theirs (offered
    to them and waiting, accepted, or converted by them); null otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def get_attribute(self, instance):
        if getattr(instance, "partner_state", None) not in PARTNER_HOLDS:
            return None
        return super().get_attribute(instance)


class PartnerLeadSerializer(serializers.ModelSerializer):
    """A lead as the partner it was offered to reads it: where it stands for
    them, their own offer's dates, their own reason — no routing trace, and
    nothing about other partners or what became of the lead afterwards."""

    state = serializers.ChoiceField(
        source="partner_state", choices=PartnerLeadState.choices, read_only=True
    )
    offered_at = serializers.DateTimeField(source="offered_to_partner_at", read_only=True)
    answer_due_at = serializers.DateTimeField(read_only=True, allow_null=True)
    answered_at = serializers.DateTimeField(read_only=True, allow_null=True)
    declined_reason = serializers.CharField(
        read_only=True, help_text=_("Your own reason, once you declined the lead.")
    )
    currency = serializers.CharField(
        read_only=True, help_text=_("ISO 4217 code of the estimated amount; may be empty.")
    )
    deal = serializers.SerializerMethodField(
        help_text=_("The deal registration you converted the lead into.")
    )
    contact_name = WhileHeldField()
    contact_email = WhileHeldField()
    phone = WhileHeldField()
    website = WhileHeldField()
    notes = WhileHeldField()

    class Meta:
        model = Lead
        fields = [
            "id",
            "reference",
            "state",
            "company",
            "country",
            "region",
            "industry",
            "company_size",
            "estimated_amount",
            "currency",
            "source",
            "contact_name",
            "contact_email",
            "phone",
            "website",
            "notes",
            "offered_at",
            "answer_due_at",
            "answered_at",
            "declined_reason",
            "deal",
        ]
        read_only_fields = fields

    @extend_schema_field(PartnerLeadDealSerializer(allow_null=True))
    def get_deal(self, lead: Lead) -> dict[str, Any] | None:
        reference = getattr(lead, "deal_reference", "")
        if not reference:
            return None
        return {"id": lead.deal_id, "reference": reference}


class LeadAssignmentSerializer(serializers.ModelSerializer):
    """One routing decision with its trace (staff only)."""

    partner = PartnerRefSerializer(read_only=True, allow_null=True)
    outcome = AssignmentOutcomeField(read_only=True)
    responded_by = PersonField()
    trace = serializers.JSONField(
        read_only=True,
        help_text=_(
            "The decision trace: the rule that fired, the candidates considered and why "
            "each excluded candidate was excluded."
        ),
    )

    class Meta:
        model = LeadAssignment
        fields = [
            "id",
            "partner",
            "rule_name",
            "via",
            "score",
            "trace",
            "outcome",
            "offered_at",
            "due_at",
            "responded_at",
            "responded_by",
            "reason",
        ]
        read_only_fields = fields


class ConvertLeadSerializer(serializers.Serializer):
    estimated_close_date = serializers.DateField(
        required=False,
        allow_null=True,
        help_text=ngettext_lazy(
            "Defaults to %(count)d day from today.",
            "Defaults to %(count)d days from today.",
            "count",
        )
        % {"count": DEFAULT_CLOSE_DAYS},
    )


class RouteResultSerializer(serializers.Serializer):
    """What routing did with the lead, and the lead as it stands after."""

    offered = serializers.IntegerField(help_text=_("1 when the lead was offered to a partner."))
    direct = serializers.IntegerField(help_text=_("1 when a rule kept it for direct sales."))
    unrouted = serializers.IntegerField(help_text=_("1 when no partner was available."))
    still_unrouted = serializers.IntegerField(
        help_text=_("1 when it was retried and still has no partner (nothing new recorded).")
    )
    lead = LeadSerializer()
