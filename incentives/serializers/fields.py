"""Field types and small shapes the incentive serializers share.

Money is always a decimal string with two places (DRF's ``DecimalField``
coerces to strings), never a float: every amount is a ``money_field``.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from incentives.models import (
    CURRENCY_CHOICES,
    PayoutPeriod,
    PlanVersion,
    RevenueEvent,
    RuleKind,
    Statement,
)
from prm.ledger.models import Kind


def money_field(**options: Any) -> serializers.DecimalField:
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


class ExplanationItemSerializer(serializers.Serializer):
    # DRF's metaclass moves declared fields off the class, so this "label" does not
    # replace Field.label at run time; the stubs cannot know that.
    label = serializers.CharField(  # type: ignore[assignment]
        help_text=_("What this is, in the caller's language.")
    )
    value = serializers.CharField()
