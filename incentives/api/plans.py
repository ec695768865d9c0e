"""Commission plans, read only."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from incentives.api.permissions import READ_ERRORS, PlanPermission
from incentives.models import CommissionPlan, CommissionRule, PlanVersion
from incentives.serializers import PlanSerializer


@extend_schema_view(
    list=extend_schema(
        summary=_("List commission plans"),
        description=_(
            "Every plan with its versions (draft, published, retired) and each version's "
            "rules. Finance and tenant admins."
        ),
        responses={200: PlanSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("Show a commission plan"), responses={200: PlanSerializer, **READ_ERRORS}
    ),
)
@extend_schema(tags=["incentives"])
class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Commission plans, read only."""

    queryset = CommissionPlan.objects
    serializer_class = PlanSerializer
    permission_classes = [PlanPermission]
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[CommissionPlan]:
        rules = CommissionRule.objects.order_by("kind", "-priority", "id")
        versions = PlanVersion.objects.order_by("-number").prefetch_related(
            Prefetch("rules", queryset=rules)
        )
        return CommissionPlan.objects.order_by("name", "id").prefetch_related(
            Prefetch("versions", queryset=versions)
        )
