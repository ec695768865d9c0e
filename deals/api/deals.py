"""Deal registrations: submit, progress, close, comment, appeal, ask for more time."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from deals import services, window
from deals.api.permissions import (
    _FORBIDDEN,
    _INVALID,
    ERRORS,
    READ_ERRORS,
    C,
    DealPermissions,
    ListFiltersOnly,
    deal_scope,
)
from deals.api_filters import (
    DealFilter,
)
from deals.models import (
    DealRegistration,
)
from deals.selectors import comments_of, deal_list, deal_page
from deals.serializers import (
    AppealSerializer,
    ClaimCheckResultSerializer,
    ClaimCheckSerializer,
    CloseWonSerializer,
    CommentInputSerializer,
    CommentSerializer,
    DealDetailSerializer,
    DealSerializer,
    ExtensionInputSerializer,
    ExtensionRequestSerializer,
    ReasonSerializer,
    RegisterDealSerializer,
)
from prm.api.permissions import actor_of, membership_of

# --- deals -------------------------------------------------------------------------------

_DEAL_ACTIONS = {
    "start": _("Start working on an approved deal"),
    "close_won": _("Record a won deal"),
    "close_lost": _("Record a lost deal"),
}


@extend_schema_view(
    list=extend_schema(
        summary=_("List deal registrations"),
        description=_(
            "Partner users see their own organisation's registrations; staff see every "
            "partner's. Search looks in the reference, customer company and contact e-mail."
        ),
        responses={200: DealSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("Show a deal registration with its timeline, decisions and comments"),
        description=_(
            "Decisions say how many possible conflicts were considered, never which; "
            "staff find the matches themselves under registrations/{id}/."
        ),
        responses={200: DealDetailSerializer, **READ_ERRORS},
    ),
    create=extend_schema(
        summary=_("Register a deal"),
        description=_(
            "Partner users only. Without a conflict and within the rules of engagement the "
            "registration is approved at once (when the program allows it); otherwise it "
            "waits in the review queue. The response's stage says which."
        ),
        request=RegisterDealSerializer,
        responses={201: DealDetailSerializer, **ERRORS},
    ),
)
@extend_schema(tags=["deals"])
class DealViewSet(
    ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Deal registrations and what partners and staff do with them."""

    queryset = DealRegistration.objects  # the model, for routing and the schema
    serializer_class = DealSerializer
    permission_classes = [DealPermissions]
    required_capabilities = {
        "create": [C.USE_PORTAL],
        "claim_check": [C.USE_PORTAL],
        "start": [C.USE_PORTAL, C.MANAGE_PARTNERS],
        "close_won": [C.USE_PORTAL, C.MANAGE_PARTNERS],
        "close_lost": [C.USE_PORTAL, C.MANAGE_PARTNERS],
        "reverse": [C.MANAGE_PARTNERS],
        "add_comment": [C.USE_PORTAL, C.MANAGE_PARTNERS],
        "appeal": [C.USE_PORTAL],
        "request_extension": [C.USE_PORTAL],
    }
    partner_user_actions = frozenset({"create", "claim_check", "appeal", "request_extension"})
    person_actions = frozenset({"add_comment"})
    filterset_class = DealFilter
    search_fields = ["reference", "customer_company", "contact_email"]
    ordering_fields = [
        "submitted_at",
        "estimated_close_date",
        "protected_until",
        "customer_company",
        "estimated_amount",
    ]
    ordering = ["-submitted_at", "-id"]

    def get_queryset(self):
        scope = deal_scope(membership_of(self.request))
        if self.action == "list":
            return deal_list(scope)
        if self.action == "retrieve":
            return deal_page(scope)
        return scope.select_related("partner")

    def get_serializer_class(self):
        return DealDetailSerializer if self.action == "retrieve" else DealSerializer

    def _show(self, deal: DealRegistration, http_status=status.HTTP_200_OK) -> Response:
        fresh = deal_page(deal_scope(membership_of(self.request))).get(pk=deal.pk)
        return Response(DealDetailSerializer(fresh).data, status=http_status)

    def _context(self) -> dict[str, Any]:
        return {"membership": membership_of(self.request), "actor": actor_of(self.request)}

    def create(self, request):
        serializer = RegisterDealSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deal = services.register_deal(**self._context(), **serializer.service_data())
        return self._show(deal, status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Is this customer already claimed?"),
        description=_(
            "Partner users only. Answers only whether the customer is already claimed by "
            "another registration or the vendor's own accounts — never by whom, nor for how much."
        ),
        request=ClaimCheckSerializer,
        responses={200: ClaimCheckResultSerializer, 400: _INVALID, 403: _FORBIDDEN},
    )
    @action(detail=False, methods=["post"], url_path="claim-check", filter_backends=[])
    def claim_check(self, request):
        serializer = ClaimCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        claimed = services.is_customer_claimed(
            membership=membership_of(request),
            company=data["customer_company"],
            email=data.get("contact_email", ""),
            website=data.get("website", ""),
        )
        return Response(ClaimCheckResultSerializer({"claimed": claimed}).data)

    @extend_schema(
        summary=_DEAL_ACTIONS["start"],
        request=None,
        responses={200: DealDetailSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        deal = services.start_progress(deal=self.get_object(), **self._context())
        return self._show(deal)

    @extend_schema(
        summary=_DEAL_ACTIONS["close_won"],
        description=_(
            "Records the final amount, its currency, the close date and the customer's "
            "contract term. The deal's owner or a channel manager."
        ),
        request=CloseWonSerializer,
        responses={200: DealDetailSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="close-won")
    def close_won(self, request, pk=None):
        deal = self.get_object()
        serializer = CloseWonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deal = services.close_won(deal=deal, **self._context(), **serializer.validated_data)
        return self._show(deal)

    @extend_schema(
        summary=_DEAL_ACTIONS["close_lost"],
        request=ReasonSerializer,
        responses={200: DealDetailSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="close-lost")
    def close_lost(self, request, pk=None):
        deal = self.get_object()
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deal = services.close_lost(
            deal=deal, reason=serializer.validated_data["reason"], **self._context()
        )
        return self._show(deal)

    @extend_schema(
        summary=_("Reverse a closed-won deal"),
        description=_(
            "Staff only: a refund or a cancellation after closing, with the reason. "
            "Later steps turn reversals into clawbacks."
        ),
        request=ReasonSerializer,
        responses={200: DealDetailSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        deal = self.get_object()
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deal = services.reverse_closed_won(
            deal=deal, reason=serializer.validated_data["reason"], **self._context()
        )
        return self._show(deal)

    @extend_schema(
        summary=_("A deal's comments"),
        description=_("Shared between the partner and the vendor's channel managers."),
        responses={200: CommentSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def comments(self, request, pk=None):
        page = self.paginate_queryset(comments_of(self.get_object()))
        return self.get_paginated_response(CommentSerializer(page, many=True).data)

    @extend_schema(
        summary=_("Comment on a deal"),
        request=CommentInputSerializer,
        responses={201: CommentSerializer, **ERRORS},
    )
    @comments.mapping.post
    def add_comment(self, request, pk=None):
        deal = self.get_object()
        serializer = CommentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        comment = services.add_comment(
            deal=deal, body=serializer.validated_data["body"], **self._context()
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary=_("Appeal a decision"),
        description=_(
            "Partner users only, once per registration: the registration returns to the "
            "review queue and its protection is suspended until it is decided again."
        ),
        request=AppealSerializer,
        responses={200: DealDetailSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def appeal(self, request, pk=None):
        deal = self.get_object()
        serializer = AppealSerializer(data=request.data, context={"deal": deal})
        serializer.is_valid(raise_exception=True)
        services.appeal_decision(
            decision=serializer.validated_data["decision"],
            comment=serializer.validated_data["comment"],
            **self._context(),
        )
        return self._show(deal)

    @extend_schema(
        summary=_("Ask for a longer protection window"),
        description=_(
            "Partner users only, for an approved or in-progress registration; a channel "
            "manager approves or denies it (see extension-requests)."
        ),
        request=ExtensionInputSerializer,
        responses={201: ExtensionRequestSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="request-extension")
    def request_extension(self, request, pk=None):
        deal = self.get_object()
        serializer = ExtensionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        extension = window.request_extension(
            deal=deal,
            days=serializer.validated_data["days"],
            reason=serializer.validated_data["reason"],
            **self._context(),
        )
        return Response(ExtensionRequestSerializer(extension).data, status=status.HTTP_201_CREATED)
