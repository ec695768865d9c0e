"""Shared API fields (named choices, money, people) and reference serializers."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from deals.models import (
    CURRENCY_CHOICES,
    Decision,
    ExtensionRequest,
    Lead,
    LeadAssignment,
    Product,
)
from partners.models import PartnerOrganization

MAX_LEADS_PER_REQUEST = 200


class _NamedChoiceField(serializers.ChoiceField):
    """A choice field whose set of values is one named schema component.

    Several choice sets share a field name here ("status", "outcome"), and the
    currencies are the partners' ``default_currency`` set too; naming each set
    keeps the OpenAPI enums unambiguous and the schema free of naming warnings.
    Subclasses set ``choice_set`` and carry the schema annotation.
    """

    choice_set: ClassVar[list[tuple[str, Any]]]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=self.choice_set, **kwargs)


def _enum(choices) -> dict[str, Any]:
    return {"type": "string", "enum": [value for value, _label in choices]}


@extend_schema_field(_enum(CURRENCY_CHOICES), component_name="Currency")
class CurrencyField(_NamedChoiceField):
    choice_set = CURRENCY_CHOICES


@extend_schema_field(_enum(Decision.Outcome.choices), component_name="DecisionOutcome")
class DecisionOutcomeField(_NamedChoiceField):
    choice_set = Decision.Outcome.choices


@extend_schema_field(
    _enum(ExtensionRequest.Status.choices), component_name="ExtensionRequestStatus"
)
class ExtensionStatusField(_NamedChoiceField):
    choice_set = ExtensionRequest.Status.choices


@extend_schema_field(_enum(Lead.Status.choices), component_name="LeadStatus")
class LeadStatusField(_NamedChoiceField):
    choice_set = Lead.Status.choices


@extend_schema_field(_enum(LeadAssignment.Outcome.choices), component_name="LeadAssignmentOutcome")
class AssignmentOutcomeField(_NamedChoiceField):
    choice_set = LeadAssignment.Outcome.choices


def _money(**options: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, **options)


class PersonField(serializers.CharField):
    """A person as the portal names them (full name, else e-mail); null when
    the change was automatic or made with an API key."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value) -> str:
        # DRF answers null itself for a missing person; this only sees a user.
        return str(value)


# --- references -----------------------------------------------------------------


class PartnerRefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)

    class Meta:
        model = PartnerOrganization
        fields = ["id", "name"]
        read_only_fields = fields


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "name", "product_line", "sku", "is_active"]
        read_only_fields = fields


class ProductRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "name", "product_line", "sku"]
        read_only_fields = fields
