"""The review queue and extension requests: staff decisions."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from deals import services, window
from deals.api.permissions import ERRORS, READ_ERRORS, C, DealPermissions, ListFiltersOnly, Outcome
from deals.api_filters import (
    ExtensionRequestFilter,
    RegistrationFilter,
)
from deals.models import (
    DealRegistration,
    Decision,
    ExtensionRequest,
)
from deals.selectors import review_queue
from deals.serializers import (
    CoSellSerializer,
    DecideSerializer,
    OptionalReasonSerializer,
    ReasonSerializer,
    RegistrationDecisionSerializer,
    RegistrationSerializer,
    StaffExtensionRequestSerializer,
)
from prm.api.permissions import actor_of, membership_of

# --- the review queue ------------------------------------------------------------------


def _decision_schema(summary, description, request_serializer):
    return extend_schema(
        summary=summary,
        description=description,
        request=request_serializer,
        responses={201: RegistrationDecisionSerializer, **ERRORS},
    )


@extend_schema_view(
    list=extend_schema(
        summary=_("The review queue"),
        description=_(
            "Submitted registrations, oldest first, each with every match (what it points "
            "at, why, how sure) and every decision. Filter by stage (or all) to see others."
        ),
        responses={200: RegistrationSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("A registration with its matches and decisions"),
        responses={200: RegistrationSerializer, **READ_ERRORS},
    ),
)
@extend_schema(tags=["registrations"])
class RegistrationViewSet(
    ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Staff review of deal registrations. Finance reads; channel managers decide."""

    queryset = DealRegistration.objects
    serializer_class = RegistrationSerializer
    permission_classes = [DealPermissions]
    view_capabilities = (C.VIEW_ALL_PARTNERS,)
    required_capabilities = {
        name: [C.MANAGE_PARTNERS] for name in ("approve", "reject", "award_first", "co_sell")
    }
    filterset_class = RegistrationFilter
    search_fields = ["reference", "customer_company", "contact_email", "partner__legal_name"]
    ordering_fields = ["submitted_at", "estimated_close_date", "customer_company"]
    ordering = ["submitted_at", "id"]

    def get_queryset(self):
        if self.action in ("list", "retrieve"):
            return review_queue()
        return DealRegistration.objects.select_related("partner")

    def _decide(self, request, outcome: str, serializer_class) -> Response:
        deal = self.get_object()
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = services.decide_registration(
            deal=deal,
            membership=membership_of(request),
            actor=actor_of(request),
            outcome=outcome,
            reason=serializer.validated_data["reason"],
            partner_share=serializer.validated_data.get("partner_share"),
        )
        decision = Decision.objects.select_related("deal", "decided_by").get(pk=decision.pk)
        return Response(
            RegistrationDecisionSerializer(decision).data, status=status.HTTP_201_CREATED
        )

    @_decision_schema(
        _("Approve a registration"),
        _("Approval protects the deal for the program's protection window."),
        DecideSerializer,
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, Outcome.APPROVED, DecideSerializer)

    @_decision_schema(
        _("Reject a registration"),
        _("The partner may appeal a rejection once, which returns it to the queue."),
        DecideSerializer,
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, Outcome.REJECTED, DecideSerializer)

    @_decision_schema(
        _("Award to the first registrant"),
        _(
            "Approves the registration if it was submitted first among those it matches, "
            "and rejects it otherwise."
        ),
        DecideSerializer,
    )
    @action(detail=True, methods=["post"], url_path="award-first")
    def award_first(self, request, pk=None):
        return self._decide(request, Outcome.AWARDED_FIRST, DecideSerializer)

    @_decision_schema(
        _("Mark a registration as co-sell"),
        _(
            "Approves it with a commission split; the partner's share defaults to the "
            "program's share for partner-sourced deals."
        ),
        CoSellSerializer,
    )
    @action(detail=True, methods=["post"], url_path="co-sell")
    def co_sell(self, request, pk=None):
        return self._decide(request, Outcome.CO_SELL, CoSellSerializer)


@extend_schema_view(
    list=extend_schema(
        summary=_("Extension requests"),
        description=_('Pending requests, oldest first; filter by status (or "all").'),
        responses={200: StaffExtensionRequestSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("Show an extension request"),
        responses={200: StaffExtensionRequestSerializer, **READ_ERRORS},
    ),
)
@extend_schema(tags=["registrations"])
class ExtensionRequestViewSet(
    ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Partners' requests for a longer protection window, for staff to decide."""

    queryset = ExtensionRequest.objects
    serializer_class = StaffExtensionRequestSerializer
    permission_classes = [DealPermissions]
    view_capabilities = (C.VIEW_ALL_PARTNERS,)
    required_capabilities = {"approve": [C.MANAGE_PARTNERS], "deny": [C.MANAGE_PARTNERS]}
    filterset_class = ExtensionRequestFilter
    search_fields = ["deal__reference", "deal__customer_company"]
    ordering_fields = ["requested_at", "requested_days"]
    ordering = ["requested_at", "id"]

    def get_queryset(self):
        return ExtensionRequest.objects.select_related(
            "deal__partner", "requested_by", "decided_by"
        )

    def _decide(self, request, *, approve: bool, serializer_class) -> Response:
        extension = self.get_object()
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        extension = window.decide_extension(
            request=extension,
            membership=membership_of(request),
            actor=actor_of(request),
            approve=approve,
            reason=serializer.validated_data.get("reason", ""),
        )
        fresh = self.get_queryset().get(pk=extension.pk)
        return Response(StaffExtensionRequestSerializer(fresh).data)

    @extend_schema(
        summary=_("Approve an extension"),
        description=_("The protection window grows by the requested days from its current end."),
        request=OptionalReasonSerializer,
        responses={200: StaffExtensionRequestSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, approve=True, serializer_class=OptionalReasonSerializer)

    @extend_schema(
        summary=_("Deny an extension"),
        description=_("The protection window stays as it is; the partner reads the reason."),
        request=ReasonSerializer,
        responses={200: StaffExtensionRequestSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def deny(self, request, pk=None):
        return self._decide(request, approve=False, serializer_class=ReasonSerializer)
