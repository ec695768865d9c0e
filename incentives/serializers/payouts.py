"""Payout periods and statements: their shapes, filters and actions."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deals.serializers.fields import CurrencyField, PartnerRefSerializer
from incentives.earnings import explain
from incentives.models import PayoutPeriod, Statement, StatementLine
from incentives.serializers.fields import (
    ExplanationItemSerializer,
    LedgerKindField,
    PeriodStatusField,
    StatementStatusField,
    money_field,
)


class PeriodRefSerializer(serializers.ModelSerializer):
    status = PeriodStatusField(read_only=True)
    key = serializers.CharField(read_only=True, help_text=_("The start's year and month."))

    class Meta:
        model = PayoutPeriod
        fields = ["id", "key", "start", "end", "status"]
        read_only_fields = fields


class PayoutPeriodSerializer(PeriodRefSerializer):
    closed_by = serializers.EmailField(
        source="closed_by.email", read_only=True, allow_null=True, default=None
    )
    statement_count = serializers.IntegerField(read_only=True)

    class Meta(PeriodRefSerializer.Meta):
        fields = [*PeriodRefSerializer.Meta.fields, "closed_at", "closed_by", "statement_count"]
        read_only_fields = fields


class StatementSerializer(serializers.ModelSerializer):
    """A partner's statement for a closed period, in its payout currency."""

    period = PeriodRefSerializer(read_only=True)
    partner = PartnerRefSerializer(read_only=True)
    currency = CurrencyField(read_only=True)
    status = StatementStatusField(read_only=True)
    opening_balance = money_field(
        read_only=True, help_text=_("Carried in from the last statement.")
    )
    earned_total = money_field(read_only=True)
    clawed_back_total = money_field(read_only=True, help_text=_("Negative or zero."))
    adjustments_total = money_field(read_only=True)
    closing_amount = money_field(
        read_only=True, help_text=_("Carried in + earned + clawed back + adjustments.")
    )
    payable_amount = money_field(read_only=True, help_text=_("What is paid for this statement."))
    carried_forward = money_field(
        read_only=True, help_text=_("What opens the partner's next statement instead.")
    )
    blockers = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text=_("What stopped the payout when the period closed (status blocked)."),
    )
    line_count = serializers.IntegerField(read_only=True)
    pdf = serializers.SerializerMethodField(help_text=_("Where to download the PDF."))

    class Meta:
        model = Statement
        fields = [
            "id",
            "period",
            "partner",
            "currency",
            "opening_balance",
            "earned_total",
            "clawed_back_total",
            "adjustments_total",
            "closing_amount",
            "payable_amount",
            "carried_forward",
            "status",
            "hold_reason",
            "blockers",
            "paid_on",
            "payment_reference",
            "line_count",
            "pdf",
            "created_at",
        ]
        read_only_fields = fields

    def get_pdf(self, statement: Statement) -> str:
        return reverse("api:statement-pdf", args=[statement.pk])


class StatementLineSerializer(serializers.ModelSerializer):
    """One ledger transaction on a statement, converted to the payout currency."""

    kind = LedgerKindField(read_only=True)
    transaction = serializers.IntegerField(source="transaction_id", read_only=True)
    original_amount = money_field(read_only=True, help_text=_("In the transaction's currency."))
    original_currency = CurrencyField(read_only=True)
    rate = serializers.DecimalField(
        max_digits=24,
        decimal_places=10,
        read_only=True,
        allow_null=True,
        help_text=_("The recorded rate used, when converted; null in the same currency."),
    )
    rate_date = serializers.DateField(
        read_only=True, allow_null=True, help_text=_("The day of the rate used.")
    )
    amount = money_field(read_only=True, help_text=_("In the statement's payout currency."))
    deal_reference = serializers.CharField(read_only=True, allow_null=True)
    customer = serializers.CharField(read_only=True, allow_null=True)
    explanation = serializers.JSONField(
        read_only=True, help_text=_("The computation's figures, as stored.")
    )
    explained = serializers.SerializerMethodField(
        help_text=_("The explanation in words: rule, base, rate, split and calculation.")
    )

    class Meta:
        model = StatementLine
        fields = [
            "id",
            "transaction",
            "kind",
            "effective_date",
            "deal_reference",
            "customer",
            "original_amount",
            "original_currency",
            "rate",
            "rate_date",
            "amount",
            "explanation",
            "explained",
        ]
        read_only_fields = fields

    @extend_schema_field(ExplanationItemSerializer(many=True))
    def get_explained(self, line: StatementLine) -> list[dict[str, str]]:
        return [
            {"label": item.label, "value": item.value}
            for item in explain(
                line.explanation,
                currency=line.original_currency,
                kind=line.kind,
                memo=line.transaction.memo,
            )
        ]


class StatementDetailSerializer(StatementSerializer):
    lines = StatementLineSerializer(many=True, read_only=True)

    class Meta(StatementSerializer.Meta):
        fields = [*StatementSerializer.Meta.fields, "lines"]
        read_only_fields = fields


class StatementQuerySerializer(serializers.Serializer):
    """The statement list's filters (query string)."""

    period = serializers.IntegerField(required=False, min_value=1, help_text=_("A period's id."))
    partner = serializers.IntegerField(
        required=False, min_value=1, help_text=_("Finance only: one partner's id.")
    )
    status = StatementStatusField(required=False)


class PdfQuerySerializer(serializers.Serializer):
    language = serializers.CharField(
        required=False,
        max_length=10,
        help_text=_("Draw the statement in this language code (default: the caller's)."),
    )

    def validate_language(self, value: str) -> str:
        if value not in dict(settings.LANGUAGES):
            raise serializers.ValidationError(
                _("Choose one of: %(codes)s.") % {"codes": ", ".join(dict(settings.LANGUAGES))}
            )
        return value


class MarkPaidSerializer(serializers.Serializer):
    reference = serializers.CharField(
        max_length=200, help_text=_("The payment's reference at the bank or payout provider.")
    )
    paid_on = serializers.DateField(
        required=False, help_text=_("The day it was paid; today when left out.")
    )
