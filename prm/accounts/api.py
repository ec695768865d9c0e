"""REST endpoints for people: memberships ("users"), the caller, personal tokens.

Who may invite, deactivate or change whom is decided by
``prm.accounts.services`` (the same rules as the portal and the console); the
endpoints only scope the lookups, so someone outside the caller's view is a 404.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from partners.filters import MembershipFilter
from partners.selectors import memberships_visible_to
from prm.accounts import services
from prm.accounts.models import Membership, UserToken
from prm.accounts.serializers import (
    ChangeRoleSerializer,
    InvitationSerializer,
    InviteSerializer,
    MembershipSerializer,
    MeSerializer,
    NewTokenSerializer,
    TokenSerializer,
)
from prm.api.authentication import ApiKeyMembership
from prm.api.permissions import (
    IsPerson,
    IsTenantMember,
    SignedInWithSession,
    actor_of,
    membership_of,
)
from prm.api.schema import ErrorSerializer
from prm.api.selectors import personal_tokens_of
from prm.tenancy.context import require_tenant

_ERRORS = {
    400: OpenApiResponse(description=_("Invalid input.")),
    403: OpenApiResponse(ErrorSerializer, description=_("Your role may not do this.")),
    404: OpenApiResponse(ErrorSerializer, description=_("Not found in your scope.")),
}


@extend_schema_view(
    list=extend_schema(summary=_("List the people with access")),
    retrieve=extend_schema(summary=_("Show one person's access")),
)
@extend_schema(tags=["users"])
class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Memberships: staff see everyone's; partner users their organisation's."""

    queryset = Membership.objects  # the model, for routing and the schema
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilter
    search_fields = ["user__email", "user__full_name"]
    ordering_fields = ["user__email", "user__full_name", "role", "created_at"]
    ordering = ["user__email"]

    def get_queryset(self):
        return memberships_visible_to(membership=membership_of(self.request))

    @extend_schema(
        summary=_("Invite someone"),
        request=InviteSerializer,
        responses={201: InvitationSerializer, **_ERRORS, 409: ErrorSerializer},
    )
    @action(detail=False, methods=["post"])
    def invite(self, request):
        serializer = InviteSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        membership = membership_of(request)
        partner = serializer.validated_data.get("partner")
        if partner is None and membership.is_partner_role:
            partner = membership.partner
        invitation = services.invite_user(
            email=serializer.validated_data["email"],
            role=serializer.validated_data["role"],
            partner=partner,
            actor=actor_of(request),
            membership=membership,
            base_url=request.build_absolute_uri("/"),
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    def _set_active(self, request, active: bool) -> Response:
        target = services.set_membership_active(
            target=self.get_object(),
            active=active,
            actor=actor_of(request),
            membership=membership_of(request),
        )
        return Response(MembershipSerializer(target).data)

    @extend_schema(
        summary=_("Withdraw someone's access"),
        request=None,
        responses={200: MembershipSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        return self._set_active(request, active=False)

    @extend_schema(
        summary=_("Give someone their access back"),
        request=None,
        responses={200: MembershipSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        return self._set_active(request, active=True)

    @extend_schema(
        summary=_("Change someone's role"),
        request=ChangeRoleSerializer,
        responses={200: MembershipSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="role")
    def change_role(self, request, pk=None):
        target = self.get_object()
        serializer = ChangeRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = services.change_role(
            target=target,
            role=serializer.validated_data["role"],
            actor=actor_of(request),
            membership=membership_of(request),
        )
        return Response(MembershipSerializer(target).data)


@extend_schema(tags=["me"])
class MeView(APIView):
    """The caller: their login, their membership here, and the tenant."""

    @extend_schema(summary=_("Who am I"), responses=MeSerializer)
    def get(self, request):
        membership = membership_of(request)
        api_key = membership.api_key if isinstance(membership, ApiKeyMembership) else None
        body = {
            "user": actor_of(request),
            "membership": membership,
            "api_key": api_key,
            "tenant": require_tenant(),
        }
        return Response(MeSerializer(body).data)


@extend_schema_view(
    list=extend_schema(summary=_("List your personal API tokens")),
    create=extend_schema(
        summary=_("Create a personal API token (signed-in browser session only)"),
        request=TokenSerializer,
        responses={201: NewTokenSerializer, 403: ErrorSerializer},
    ),
    destroy=extend_schema(summary=_("Revoke one of your personal API tokens")),
)
@extend_schema(tags=["tokens"])
class TokenViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Personal API tokens. A token acts as you in whichever tenant you call,
    with your membership there; it is shown once, when created."""

    queryset = UserToken.objects  # the model, for routing and the schema
    serializer_class = TokenSerializer
    filter_backends: list = []

    def get_permissions(self):
        permissions = [IsTenantMember(), IsPerson()]
        if self.action == "create":
            permissions.append(SignedInWithSession())
        return permissions

    def get_queryset(self):
        return personal_tokens_of(user=self.request.user)

    def create(self, request):
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = services.create_user_token(
            user=request.user, name=serializer.validated_data["name"]
        )
        token.key = key
        return Response(NewTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.revoke_user_token(token=instance, actor=self.request.user)
