"""Customer payments, refunds and usage charges, as read and as recorded."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from deals.serializers.fields import CurrencyField, PartnerRefSerializer
from incentives.models import RevenueEvent
from incentives.serializers.fields import RevenueEventKindField, money_field

MAX_EVENTS_PER_REQUEST = 500


class RevenueEventSerializer(serializers.ModelSerializer):
    partner = PartnerRefSerializer(read_only=True)
    kind = RevenueEventKindField(read_only=True)
    currency = CurrencyField(read_only=True)
    amount = money_field(read_only=True)
    deal_reference = serializers.CharField(
        source="deal.reference", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = RevenueEvent
        fields = [
            "id",
            "external_id",
            "partner",
            "deal_reference",
            "customer_name",
            "kind",
            "amount",
            "currency",
            "occurred_on",
            "usage_quantity",
            "created_at",
        ]
        read_only_fields = fields


class RevenueEventInputSerializer(serializers.Serializer):
    """One customer payment, refund or usage charge from the vendor's billing."""

    external_id = serializers.CharField(
        max_length=100, help_text=_("The event's id in your billing system; unique.")
    )
    partner = serializers.IntegerField(min_value=1, help_text=_("The partner's id."))
    deal = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text=_("The partner's deal reference, when the payment belongs to one."),
    )
    customer_name = serializers.CharField(max_length=200)
    kind = RevenueEventKindField()
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text=_("Positive; a refund is its own kind."),
    )
    currency = CurrencyField()
    occurred_on = serializers.DateField()
    usage_quantity = serializers.DecimalField(
        max_digits=18, decimal_places=4, required=False, allow_null=True
    )


class RevenueEventQuerySerializer(serializers.Serializer):
    """The revenue-event list's filters (query string)."""

    occurred_from = serializers.DateField(
        required=False, help_text=_("Events on or after this day.")
    )
    occurred_to = serializers.DateField(
        required=False, help_text=_("Events on or before this day.")
    )
    customer = serializers.CharField(
        required=False, max_length=200, help_text=_("Part of the customer's name.")
    )
    kind = RevenueEventKindField(required=False)
    partner = serializers.IntegerField(required=False, min_value=1, help_text=_("A partner's id."))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("occurred_from"), attrs.get("occurred_to")
        if start and end and start > end:
            raise serializers.ValidationError(
                {"occurred_to": [_("The end of the range is before its start.")]}
            )
        return attrs
