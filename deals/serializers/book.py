"""The vendor's accounts."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from deals.forms import country_code, website_or_domain
from deals.models import (
    Account,
)

# --- accounts -------------------------------------------------------------------


class AccountSerializer(serializers.ModelSerializer):
    matching_name = serializers.CharField(
        source="normalized_name",
        read_only=True,
        help_text=_("The company name as matching compares it."),
    )

    class Meta:
        model = Account
        fields = [
            "id",
            "kind",
            "name",
            "matching_name",
            "domain",
            "country",
            "owner",
            "external_id",
            "is_active",
        ]
        read_only_fields = fields


class AccountInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Account.Kind.choices)
    name = serializers.CharField(max_length=200)
    domain = serializers.CharField(
        max_length=253, required=False, allow_blank=True, validators=[website_or_domain]
    )
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, validators=[country_code]
    )
    owner = serializers.CharField(max_length=200, required=False, allow_blank=True)
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)

    def validate_country(self, value: str) -> str:
        return value.upper()
