"""API shapes for plans, earnings (ledger transactions) and revenue events.

Money is always a decimal string with two places (DRF's ``DecimalField``
coerces to strings), never a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deals.serializers.fields import CurrencyField, PartnerRefSerializer
from incentives.earnings import explain, parse_month
from incentives.models import (
    CURRENCY_CHOICES,
    RULE_FIELDS,
    CommissionPlan,
    CommissionRule,
    PlanVersion,
    RevenueEvent,
    RuleKind,
)
from prm.ledger.models import Kind, LedgerEntry, LedgerTransaction

MAX_EVENTS_PER_REQUEST = 500


def _money(**options: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=18, decimal_places=2, **options)


def _enum(choices) -> dict[str, Any]:
    return {"type": "string", "enum": [value for value, _label in choices]}


# Several choice sets share a field name ("kind", "status"); naming each set keeps
# the OpenAPI enums unambiguous and the schema free of naming warnings.


@extend_schema_field(_enum(Kind.choices), component_name="LedgerKind")
class LedgerKindField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Kind.choices, **kwargs)


@extend_schema_field(_enum(RuleKind.choices), component_name="RuleKind")
class RuleKindField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=RuleKind.choices, **kwargs)


@extend_schema_field(_enum(PlanVersion.Status.choices), component_name="PlanVersionStatus")
class VersionStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=PlanVersion.Status.choices, **kwargs)


@extend_schema_field(_enum(RevenueEvent.Kind.choices), component_name="RevenueEventKind")
class RevenueEventKindField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=RevenueEvent.Kind.choices, **kwargs)


@extend_schema_field(
    {"type": "string", "enum": [*(value for value, _label in CURRENCY_CHOICES), ""]},
    component_name="RuleCurrency",
)
class RuleCurrencyField(serializers.CharField):
    """A fixed amount's currency; empty when the rule pays a percentage."""


# --- plans ------------------------------------------------------------------------------


class RuleSerializer(serializers.ModelSerializer):
    kind = RuleKindField(read_only=True)
    currency = RuleCurrencyField(read_only=True)

    class Meta:
        model = CommissionRule
        fields = ["id", *RULE_FIELDS]
        read_only_fields = fields


class PlanVersionSerializer(serializers.ModelSerializer):
    status = VersionStatusField(read_only=True)
    rules = RuleSerializer(many=True, read_only=True)

    class Meta:
        model = PlanVersion
        fields = [
            "id",
            "number",
            "status",
            "effective_from",
            "published_at",
            "retired_on",
            "rules",
        ]
        read_only_fields = fields


class PlanSerializer(serializers.ModelSerializer):
    versions = PlanVersionSerializer(many=True, read_only=True)

    class Meta:
        model = CommissionPlan
        fields = ["id", "name", "description", "is_default", "created_at", "versions"]
        read_only_fields = fields


# --- earnings ---------------------------------------------------------------------------


class EntrySerializer(serializers.ModelSerializer):
    amount = _money(read_only=True, help_text=_("Debits positive, credits negative."))

    class Meta:
        model = LedgerEntry
        fields = ["account", "amount"]
        read_only_fields = fields


class ExplanationItemSerializer(serializers.Serializer):
    # DRF's metaclass moves declared fields off the class, so this "label" does not
    # replace Field.label at run time; the stubs cannot know that.
    label = serializers.CharField(  # type: ignore[assignment]
        help_text=_("What this is, in the caller's language.")
    )
    value = serializers.CharField()


class EarningSerializer(serializers.ModelSerializer):
    """One ledger transaction of a partner, with its entries and explanation."""

    partner = PartnerRefSerializer(read_only=True)
    kind = LedgerKindField(read_only=True)
    currency = CurrencyField(read_only=True)
    amount = _money(
        source="partner_amount",
        read_only=True,
        help_text=_("What this credits the partner (negative for a clawback or payment)."),
    )
    deal_reference = serializers.CharField(read_only=True, allow_null=True)
    rule_name = serializers.CharField(read_only=True, allow_null=True)
    entries = EntrySerializer(many=True, read_only=True)
    explanation = serializers.JSONField(
        read_only=True, help_text=_("The computation's figures, as stored.")
    )
    explained = serializers.SerializerMethodField(
        help_text=_("The explanation in words: rule, base, rate, split and calculation.")
    )

    class Meta:
        model = LedgerTransaction
        fields = [
            "id",
            "partner",
            "kind",
            "currency",
            "amount",
            "effective_date",
            "period_key",
            "source_type",
            "source_id",
            "deal_reference",
            "rule_id",
            "rule_name",
            "plan_version_id",
            "reverses",
            "explanation",
            "explained",
            "entries",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ExplanationItemSerializer(many=True))
    def get_explained(self, transaction: LedgerTransaction) -> list[dict[str, str]]:
        return [
            {"label": item.label, "value": item.value}
            for item in explain(
                transaction.explanation,
                currency=transaction.currency,
                kind=transaction.kind,
                memo=transaction.memo,
            )
        ]


class EarningQuerySerializer(serializers.Serializer):
    """The earnings list's filters (query string)."""

    kind = LedgerKindField(required=False)
    currency = CurrencyField(required=False)
    month = serializers.CharField(
        required=False, help_text=_("A calendar month of the effective date, like 2026-03.")
    )
    deal = serializers.CharField(required=False, max_length=40, help_text=_("A deal's reference."))
    partner = serializers.IntegerField(
        required=False, min_value=1, help_text=_("Finance only: one partner's id.")
    )

    def validate_month(self, value: str):
        month = parse_month(value)
        if month is None:
            raise serializers.ValidationError(_("Give a month as year and month, like 2026-03."))
        return month


class SummarySerializer(serializers.Serializer):
    currency = CurrencyField()
    earned = _money(help_text=_("Commissions, referral fees, revenue shares, rebates, bonuses."))
    clawed_back = _money(help_text=_("Negative: earnings taken back after reversals."))
    adjustments = _money()
    reimbursed = _money()
    paid = _money(help_text=_("Paid out to the partner."))
    balance = _money(help_text=_("What the vendor owes now."))


class SummaryQuerySerializer(serializers.Serializer):
    partner = serializers.IntegerField(
        required=False, min_value=1, help_text=_("Finance only: one partner's id.")
    )


# --- revenue events ---------------------------------------------------------------------


class RevenueEventSerializer(serializers.ModelSerializer):
    partner = PartnerRefSerializer(read_only=True)
    kind = RevenueEventKindField(read_only=True)
    currency = CurrencyField(read_only=True)
    amount = _money(read_only=True)
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
