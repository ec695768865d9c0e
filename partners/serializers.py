"""Request and response shapes for the partner endpoints.

Related rows (partner type, tier) are referenced by id. Their querysets are
the tenant-scoped managers, evaluated per request, so an id that belongs to
another tenant is answered exactly like an id that does not exist.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from partners.models import PartnerOrganization, PartnerType, Tier, TierChange

# ISO 3166-1 alpha-2, as published in the IANA time zone database's iso3166.tab.
_ISO_3166_ALPHA_2 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
ISO_COUNTRY_CODES = frozenset(_ISO_3166_ALPHA_2.split())


class PartnerTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = PartnerType
        fields = ["id", "key", "name", "description"]


class TierSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = [
            "id",
            "key",
            "name",
            "rank",
            "commission_rate_modifier",
            "mdf_percentage",
            "benefits",
        ]


class PartnerTypeRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = PartnerType
        fields = ["id", "key", "name"]


class TierRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = ["id", "key", "name", "rank"]


class PartnerSerializer(serializers.ModelSerializer):
    """A partner organisation as the API returns it."""

    name = serializers.CharField(read_only=True)
    partner_type = PartnerTypeRefSerializer(read_only=True)
    tier = TierRefSerializer(read_only=True, allow_null=True)
    user_count = serializers.IntegerField(
        read_only=True, help_text=_("Active users of the organisation.")
    )

    class Meta:
        model = PartnerOrganization
        fields = [
            "id",
            "legal_name",
            "display_name",
            "name",
            "country",
            "region",
            "industries",
            "partner_type",
            "tier",
            "status",
            "default_currency",
            "website",
            "user_count",
            "created_at",
        ]
        read_only_fields = fields


class PartnerWriteSerializer(serializers.ModelSerializer):
    """Input for creating a partner organisation (and, without ``tier``, editing one)."""

    # Tenant-scoped managers (not querysets built at import time): the lookup
    # runs in the request's tenant, so another tenant's id "does not exist".
    partner_type = serializers.PrimaryKeyRelatedField(queryset=PartnerType.objects)
    tier = serializers.PrimaryKeyRelatedField(
        queryset=Tier.objects, required=False, allow_null=True
    )

    class Meta:
        model = PartnerOrganization
        fields = [
            "legal_name",
            "display_name",
            "country",
            "region",
            "industries",
            "partner_type",
            "tier",
            "status",
            "default_currency",
            "website",
        ]

    def validate_country(self, value: str) -> str:
        if len(value) != 2 or not value.isupper() or value not in ISO_COUNTRY_CODES:
            raise serializers.ValidationError(
                _("Enter a two-letter ISO country code in capitals, such as MY or CN.")
            )
        return value

    def validate_legal_name(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError(_("Enter the legal name."))
        return value


class PartnerUpdateSerializer(PartnerWriteSerializer):
    """Editing keeps the tier: tier changes go through assign-tier, with a reason."""

    class Meta(PartnerWriteSerializer.Meta):
        fields = [name for name in PartnerWriteSerializer.Meta.fields if name != "tier"]

    def validate(self, attrs):
        if "tier" in getattr(self, "initial_data", {}):
            raise serializers.ValidationError(
                {"tier": _("Change the tier with assign-tier, so the change is recorded.")}
            )
        return attrs


class AssignTierSerializer(serializers.Serializer):
    tier = serializers.PrimaryKeyRelatedField(queryset=Tier.objects)
    reason = serializers.CharField(
        max_length=2000, help_text=_("Why the partner changes tier; kept in the tier history.")
    )


class TierChangeSerializer(serializers.ModelSerializer):
    from_tier = TierRefSerializer(read_only=True, allow_null=True)
    to_tier = TierRefSerializer(read_only=True)
    changed_by = serializers.SerializerMethodField()

    class Meta:
        model = TierChange
        fields = ["id", "from_tier", "to_tier", "changed_by", "reason", "changed_at"]
        read_only_fields = fields

    def get_changed_by(self, change: TierChange) -> str | None:
        return str(change.changed_by) if change.changed_by_id else None
