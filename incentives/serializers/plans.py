"""Commission plans, their versions and rules (read only)."""

from __future__ import annotations

from rest_framework import serializers

from incentives.models import RULE_FIELDS, CommissionPlan, CommissionRule, PlanVersion
from incentives.serializers.fields import RuleCurrencyField, RuleKindField, VersionStatusField


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
