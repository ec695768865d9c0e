"""The review queue: registrations with their matches and decisions, as staff see them."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from deals.models import (
    Account,
    DealMatch,
    DealRegistration,
)
from deals.serializers.deals import DealSerializer, DecisionSerializer, ExtensionRequestSerializer
from deals.serializers.fields import PartnerRefSerializer

# --- the review queue -----------------------------------------------------------


class MatchReasonSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=["same_name", "same_domain", "similar_name"])
    value = serializers.CharField(help_text=_("The name or domain that matched."))
    similarity = serializers.DecimalField(
        max_digits=4, decimal_places=3, required=False, help_text=_("For similar names: 0–1.")
    )


class MatchedDealSerializer(serializers.ModelSerializer):
    partner = PartnerRefSerializer(read_only=True)

    class Meta:
        model = DealRegistration
        fields = ["id", "reference", "partner", "customer_company", "stage", "submitted_at"]
        read_only_fields = fields


class MatchedAccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "kind", "name", "domain", "owner"]
        read_only_fields = fields


class MatchSerializer(serializers.ModelSerializer):
    """Something the registration may conflict with, why, and how sure we are."""

    reasons = MatchReasonSerializer(many=True, read_only=True)
    other_deal = MatchedDealSerializer(read_only=True, allow_null=True)
    account = MatchedAccountSerializer(read_only=True, allow_null=True)

    class Meta:
        model = DealMatch
        fields = ["id", "confidence", "reasons", "other_deal", "account", "found_at"]
        read_only_fields = fields


class ConsideredMatchSerializer(serializers.Serializer):
    deal = serializers.IntegerField(allow_null=True, help_text=_("Id of the other registration."))
    account = serializers.IntegerField(allow_null=True, help_text=_("Id of the vendor account."))
    confidence = serializers.DecimalField(max_digits=4, decimal_places=3)
    reasons = MatchReasonSerializer(many=True)


class StaffDecisionSerializer(DecisionSerializer):
    """A decision with the matches it considered, as staff read it."""

    matches_considered = ConsideredMatchSerializer(many=True, read_only=True)

    class Meta(DecisionSerializer.Meta):
        fields = [*DecisionSerializer.Meta.fields, "matches_considered"]
        read_only_fields = fields


class RegistrationSerializer(DealSerializer):
    """A registration in the review queue, with every match and every decision."""

    matches = MatchSerializer(many=True, read_only=True)
    decisions = StaffDecisionSerializer(many=True, read_only=True)

    class Meta(DealSerializer.Meta):
        fields = [*DealSerializer.Meta.fields, "matches", "decisions"]
        read_only_fields = fields


class DecideSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=4000,
        help_text=_("The partners affected read this reason with the decision."),
    )


class CoSellSerializer(DecideSerializer):
    partner_share = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        required=False,
        help_text=_(
            "The partner's share of the commission in percent; defaults to the program's "
            "share for partner-sourced deals."
        ),
    )


class DecisionRegistrationSerializer(serializers.ModelSerializer):
    class Meta:
        model = DealRegistration
        fields = ["id", "reference", "stage", "protected_until", "partner_share"]
        read_only_fields = fields


class RegistrationDecisionSerializer(StaffDecisionSerializer):
    """A new decision with the registration as it stands after it."""

    registration = DecisionRegistrationSerializer(source="deal", read_only=True)

    class Meta(StaffDecisionSerializer.Meta):
        fields = [*StaffDecisionSerializer.Meta.fields, "registration"]
        read_only_fields = fields


class ExtensionDealSerializer(serializers.ModelSerializer):
    partner = PartnerRefSerializer(read_only=True)

    class Meta:
        model = DealRegistration
        fields = ["id", "reference", "customer_company", "partner", "stage", "protected_until"]
        read_only_fields = fields


class StaffExtensionRequestSerializer(ExtensionRequestSerializer):
    deal = ExtensionDealSerializer(read_only=True)
