"""API shapes for plans, earnings (ledger transactions), revenue events, payout
periods and statements.

Money is always a decimal string with two places (DRF's ``DecimalField``
coerces to strings), never a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.urls import reverse
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
    PayoutPeriod,
    PlanVersion,
    RevenueEvent,
    RuleKind,
    Statement,
    StatementLine,
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


@extend_schema_field(_enum(Statement.Status.choices), component_name="StatementStatus")
class StatementStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Statement.Status.choices, **kwargs)


@extend_schema_field(_enum(PayoutPeriod.Status.choices), component_name="PayoutPeriodStatus")
class PeriodStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=PayoutPeriod.Status.choices, **kwargs)


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


class PayoutStatusSerializer(serializers.Serializer):
    currency = CurrencyField()
    pending = _money(help_text=_("Owed but on no closed period's statement yet."))
    approved = _money(
        help_text=_(
            "On a closed period's statement and not paid yet: payable amounts not marked "
            "paid, plus the balance carried forward."
        )
    )
    paid = _money(help_text=_("Paid out: the statements marked paid."))


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


# --- payout periods and statements ------------------------------------------------------


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
    opening_balance = _money(read_only=True, help_text=_("Carried in from the last statement."))
    earned_total = _money(read_only=True)
    clawed_back_total = _money(read_only=True, help_text=_("Negative or zero."))
    adjustments_total = _money(read_only=True)
    closing_amount = _money(
        read_only=True, help_text=_("Carried in + earned + clawed back + adjustments.")
    )
    payable_amount = _money(read_only=True, help_text=_("What is paid for this statement."))
    carried_forward = _money(
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
    original_amount = _money(read_only=True, help_text=_("In the transaction's currency."))
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
    amount = _money(read_only=True, help_text=_("In the statement's payout currency."))
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
