"""Earnings (ledger transactions of a partner), their totals and payout status,
and the earnings list's filters.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deals.serializers.fields import CurrencyField, PartnerRefSerializer
from incentives.earnings import explain, parse_month
from incentives.serializers.fields import ExplanationItemSerializer, LedgerKindField, money_field
from prm.ledger.models import LedgerEntry, LedgerTransaction


class EntrySerializer(serializers.ModelSerializer):
    amount = money_field(read_only=True, help_text=_("Debits positive, credits negative."))

    class Meta:
        model = LedgerEntry
        fields = ["account", "amount"]
        read_only_fields = fields


class EarningSerializer(serializers.ModelSerializer):
    """One ledger transaction of a partner, with its entries and explanation."""

    partner = PartnerRefSerializer(read_only=True)
    kind = LedgerKindField(read_only=True)
    currency = CurrencyField(read_only=True)
    amount = money_field(
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
    period = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text=_(
            "A payout period's id: for a closed period, the lines on its statements and "
            "their payments; for an open one, the lines its close would take."
        ),
    )

    def validate_month(self, value: str):
        month = parse_month(value)
        if month is None:
            raise serializers.ValidationError(_("Give a month as year and month, like 2026-03."))
        return month


class SummarySerializer(serializers.Serializer):
    currency = CurrencyField()
    earned = money_field(
        help_text=_("Commissions, referral fees, revenue shares, rebates, bonuses.")
    )
    clawed_back = money_field(help_text=_("Negative: earnings taken back after reversals."))
    adjustments = money_field()
    reimbursed = money_field()
    converted = money_field(
        help_text=_(
            "Moved into this currency (positive: the payout currency) or out of it "
            "(negative) by the currency conversions of closed payout periods."
        )
    )
    paid = money_field(help_text=_("Paid out to the partner."))
    balance = money_field(help_text=_("What the vendor owes now."))


class SummaryQuerySerializer(serializers.Serializer):
    partner = serializers.IntegerField(
        required=False, min_value=1, help_text=_("Finance only: one partner's id.")
    )


class PayoutStatusSerializer(serializers.Serializer):
    currency = CurrencyField()
    pending = money_field(help_text=_("Owed but on no closed period's statement yet."))
    approved = money_field(
        help_text=_(
            "On a closed period's statement and not paid yet: payable amounts not marked "
            "paid, plus the balance carried forward."
        )
    )
    paid = money_field(help_text=_("Paid out: the statements marked paid."))
