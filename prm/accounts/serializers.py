"""Request and response shapes for people, memberships and personal tokens."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from partners.models import PartnerOrganization
from partners.selectors import partners_visible_to
from prm.accounts.models import Invitation, Membership, User, UserToken
from prm.accounts.roles import Role
from prm.api.permissions import membership_of
from prm.tenancy.models import Tenant


class MembershipSerializer(serializers.ModelSerializer):
    """A person's access to this tenant ("user" in the API)."""

    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "role", "partner", "is_active"]
        read_only_fields = fields


class VisiblePartnerField(serializers.PrimaryKeyRelatedField):
    """A partner organisation the caller can see; any other id "does not exist"."""

    def get_queryset(self):
        return partners_visible_to(membership=membership_of(self.context["request"]))


class InviteSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    partner = VisiblePartnerField(
        queryset=PartnerOrganization.objects,
        required=False,
        allow_null=True,
        help_text=_(
            "The partner organisation, for partner roles. A partner admin may leave it "
            "out to invite to their own organisation."
        ),
    )


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "partner", "created_at", "expires_at"]
        read_only_fields = fields


class ChangeRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]


# One inline enum for the language codes, rather than one named component per
# field (the tenant's default language and a person's preferred one).
@extend_schema_field(
    {"type": "string", "enum": [*LANGUAGE_CODES, ""]}, component_name="LanguageCode"
)
class LanguageField(serializers.CharField):
    """A language code from settings.LANGUAGES; empty means "not chosen"."""


class MeUserSerializer(serializers.ModelSerializer):
    preferred_language = LanguageField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "preferred_language"]
        read_only_fields = fields


class MePartnerSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)

    class Meta:
        model = PartnerOrganization
        fields = ["id", "name"]
        read_only_fields = fields


class MeMembershipSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        source="pk", allow_null=True, help_text=_("Empty when calling with an API key.")
    )
    role = serializers.ChoiceField(choices=Role.choices)
    partner = MePartnerSerializer(allow_null=True)


class MeApiKeySerializer(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField()


class MeTenantSerializer(serializers.ModelSerializer):
    default_language = LanguageField(read_only=True)

    class Meta:
        model = Tenant
        fields = ["slug", "name", "default_language", "default_currency", "time_zone"]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    """Who is calling, in which tenant, with which role."""

    user = MeUserSerializer(allow_null=True, help_text=_("Empty when calling with an API key."))
    membership = MeMembershipSerializer()
    api_key = MeApiKeySerializer(
        allow_null=True, help_text=_("The API key in use, when calling with one.")
    )
    tenant = MeTenantSerializer()


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserToken
        fields = ["id", "name", "created_at", "last_used_at"]
        read_only_fields = ["id", "created_at", "last_used_at"]


class NewTokenSerializer(TokenSerializer):
    key = serializers.CharField(
        read_only=True, help_text=_("The token itself. It is shown this once and never again.")
    )

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]
