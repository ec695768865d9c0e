"""Deal registrations: what the API returns and accepts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from rest_framework import serializers

from deals.forms import MAX_LINES, country_code, website_or_domain
from deals.models import (
    EXTENSION_MAX_DAYS,
    EXTENSION_MIN_DAYS,
    CompanySize,
    DealComment,
    DealEvent,
    DealLine,
    DealRegistration,
    Decision,
    ExtensionRequest,
    Product,
)
from deals.serializers.fields import (
    CurrencyField,
    DecisionOutcomeField,
    ExtensionStatusField,
    PartnerRefSerializer,
    PersonField,
    ProductRefSerializer,
    _money,
)
from deals.services import LineInput

# --- deals: responses ------------------------------------------------------------


class DealLineSerializer(serializers.ModelSerializer):
    product = ProductRefSerializer(read_only=True)

    class Meta:
        model = DealLine
        fields = ["id", "product", "quantity", "amount"]
        read_only_fields = fields


class DealSerializer(serializers.ModelSerializer):
    """A deal registration as it appears in lists."""

    partner = PartnerRefSerializer(read_only=True)
    registered_by = PersonField()
    currency = CurrencyField(read_only=True)
    lines = DealLineSerializer(many=True, read_only=True)

    class Meta:
        model = DealRegistration
        fields = [
            "id",
            "reference",
            "partner",
            "registered_by",
            "customer_company",
            "contact_name",
            "contact_email",
            "website",
            "country",
            "region",
            "industry",
            "company_size",
            "deal_type",
            "estimated_close_date",
            "estimated_amount",
            "currency",
            "notes",
            "stage",
            "is_conflict",
            "submitted_at",
            "approved_at",
            "protected_until",
            "final_amount",
            "closed_on",
            "contract_term_months",
            "reversed_at",
            "reversal_reason",
            "partner_share",
            "lines",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "partner_share": {
                "help_text": _(
                    "The partner's share of the commission in percent; below 100 on co-sell."
                )
            },
            "is_conflict": {
                "help_text": _("The registration may conflict with another claim on the customer.")
            },
        }


class DealEventSerializer(serializers.ModelSerializer):
    """One entry of a deal's timeline: what changed, who, when and why."""

    actor = PersonField(help_text=_("Null when the change was automatic."))
    outcome = serializers.SerializerMethodField(
        help_text=_("For a decision: its outcome; otherwise empty.")
    )

    class Meta:
        model = DealEvent
        fields = [
            "id",
            "kind",
            "from_stage",
            "to_stage",
            "outcome",
            "actor",
            "reason",
            "created_at",
        ]
        read_only_fields = fields

    def get_outcome(self, event: DealEvent) -> str:
        return str((event.data or {}).get("outcome", ""))


class DecisionSerializer(serializers.ModelSerializer):
    """A decision as the affected partner reads it: the policy, the reason and
    how many possible conflicts were considered — never which."""

    outcome = DecisionOutcomeField(read_only=True)
    decided_by = PersonField(help_text=_("Null for an automatic decision."))
    matches_considered_count = serializers.SerializerMethodField()

    class Meta:
        model = Decision
        fields = [
            "id",
            "outcome",
            "policy",
            "reason",
            "partner_share",
            "matches_considered_count",
            "decided_by",
            "decided_at",
            "appeal_comment",
            "appealed_at",
        ]
        read_only_fields = fields

    def get_matches_considered_count(self, decision: Decision) -> int:
        return len(decision.matches_considered or [])


class CommentSerializer(serializers.ModelSerializer):
    author = PersonField()

    class Meta:
        model = DealComment
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = fields


class ExtensionRequestSerializer(serializers.ModelSerializer):
    status = ExtensionStatusField(read_only=True)
    requested_by = PersonField()
    decided_by = PersonField()

    class Meta:
        model = ExtensionRequest
        fields = [
            "id",
            "deal",
            "requested_days",
            "reason",
            "protected_until_at_request",
            "requested_by",
            "requested_at",
            "status",
            "decided_by",
            "decided_at",
            "decision_reason",
        ]
        read_only_fields = fields


class DealDetailSerializer(DealSerializer):
    """A deal with its timeline, decisions, comments and extension requests."""

    match_count = serializers.IntegerField(
        read_only=True,
        help_text=_("How many possible conflicts were found; what they are is not shown."),
    )
    timeline = DealEventSerializer(source="events", many=True, read_only=True)
    decisions = DecisionSerializer(many=True, read_only=True)
    comments = CommentSerializer(many=True, read_only=True)
    extension_requests = ExtensionRequestSerializer(many=True, read_only=True)

    class Meta(DealSerializer.Meta):
        fields = [
            *DealSerializer.Meta.fields,
            "match_count",
            "timeline",
            "decisions",
            "comments",
            "extension_requests",
        ]
        read_only_fields = fields


# --- deals: requests -----------------------------------------------------------


class ActiveProductField(serializers.PrimaryKeyRelatedField):
    """An active product of this tenant; any other id "does not exist"."""

    def get_queryset(self):
        return Product.objects.filter(is_active=True)


class LineInputSerializer(serializers.Serializer):
    product = ActiveProductField(queryset=Product.objects)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    amount = _money(min_value=Decimal("0"), help_text=_('The line\'s amount, e.g. "1200.00".'))


class RegisterDealSerializer(serializers.Serializer):
    """What a partner user submits to register a deal (the portal form's fields)."""

    customer_company = serializers.CharField(max_length=200)
    contact_name = serializers.CharField(max_length=200)
    contact_email = serializers.EmailField(max_length=254)
    estimated_close_date = serializers.DateField(help_text=_("Today or later."))
    website = serializers.CharField(
        max_length=253, required=False, allow_blank=True, validators=[website_or_domain]
    )
    country = serializers.CharField(
        max_length=2,
        required=False,
        allow_blank=True,
        validators=[country_code],
        help_text=_("Two-letter code, like MY."),
    )
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=60, required=False, allow_blank=True)
    company_size = serializers.ChoiceField(
        choices=CompanySize.choices, required=False, allow_blank=True
    )
    deal_type = serializers.ChoiceField(
        choices=DealRegistration.DealType.choices, default=DealRegistration.DealType.NEW
    )
    estimated_amount = _money(min_value=Decimal("0"), required=False, allow_null=True)
    currency = CurrencyField(
        required=False, help_text=_("Defaults to the partner organisation's currency.")
    )
    notes = serializers.CharField(required=False, allow_blank=True)
    lines: serializers.ListSerializer = serializers.ListSerializer(
        child=LineInputSerializer(),
        required=False,
        max_length=MAX_LINES,
        help_text=ngettext_lazy(
            "Up to %(count)d product line.", "Up to %(count)d product lines.", "count"
        )
        % {"count": MAX_LINES},
    )

    def validate_country(self, value: str) -> str:
        return value.upper()

    def service_data(self) -> dict[str, Any]:
        """The validated values as ``services.register_deal`` keyword arguments."""
        data = dict(self.validated_data)
        data["lines"] = [LineInput(**line) for line in data.pop("lines", [])]
        if data.get("estimated_amount") is None:
            data.pop("estimated_amount", None)
        return data


class ClaimCheckSerializer(serializers.Serializer):
    customer_company = serializers.CharField(max_length=200)
    contact_email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    website = serializers.CharField(
        max_length=253, required=False, allow_blank=True, validators=[website_or_domain]
    )


class ClaimCheckResultSerializer(serializers.Serializer):
    claimed = serializers.BooleanField(
        help_text=_(
            "Whether the customer is already claimed. Who claimed it, and for how much, "
            "is never disclosed."
        )
    )


class CloseWonSerializer(serializers.Serializer):
    final_amount = _money(min_value=Decimal("0.01"))
    currency = CurrencyField()
    closed_on = serializers.DateField(help_text=_("The close date; not in the future."))
    contract_term_months = serializers.IntegerField(
        min_value=1, max_value=120, help_text=_("The customer's contract term in months.")
    )

    def validate_closed_on(self, value):
        if value > timezone.localdate():
            raise serializers.ValidationError(_("The close date cannot be in the future."))
        return value


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class OptionalReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class CommentInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=4000)


class DecisionOfDealField(serializers.PrimaryKeyRelatedField):
    """A decision on the deal named in the URL; any other id "does not exist"."""

    def get_queryset(self):
        return Decision.objects.filter(deal=self.context["deal"]).select_related("deal")


class AppealSerializer(serializers.Serializer):
    decision = DecisionOfDealField(
        queryset=Decision.objects, help_text=_("The id of the decision appealed.")
    )
    comment = serializers.CharField(max_length=4000, help_text=_("Why you appeal."))


class ExtensionInputSerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=EXTENSION_MIN_DAYS,
        max_value=EXTENSION_MAX_DAYS,
        help_text=_("How many days to add to the protection window."),
    )
    reason = serializers.CharField(max_length=2000)
