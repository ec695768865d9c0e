"""The vendor's accounts and products."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from deals import services
from deals.api.permissions import ERRORS, READ_ERRORS, C, DealPermissions, ListFiltersOnly
from deals.api_filters import (
    AccountFilter,
    ProductFilter,
)
from deals.models import (
    Account,
    Product,
)
from deals.serializers import (
    AccountInputSerializer,
    AccountSerializer,
    ProductSerializer,
)
from prm.accounts.roles import can
from prm.api.permissions import actor_of, membership_of

# --- accounts and products ------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary=_("The vendor's accounts"),
        description=_(
            "Direct-sales accounts, open direct opportunities and existing customers that "
            "registrations are matched against. Staff only."
        ),
        responses={200: AccountSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("Show an account"), responses={200: AccountSerializer, **READ_ERRORS}
    ),
    create=extend_schema(
        summary=_("Add an account"),
        description=_("Tenant admins; the matching fields are derived from the name and domain."),
        request=AccountInputSerializer,
        responses={201: AccountSerializer, **ERRORS},
    ),
)
@extend_schema(tags=["accounts"])
class AccountViewSet(
    ListFiltersOnly,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Account.objects
    serializer_class = AccountSerializer
    permission_classes = [DealPermissions]
    view_capabilities = (C.VIEW_ALL_PARTNERS,)
    # As in the console: everyone on staff reads, the program's managers add.
    required_capabilities = {"create": [C.MANAGE_PARTNERS]}
    filterset_class = AccountFilter
    search_fields = ["name", "domain", "owner", "external_id"]
    ordering_fields = ["name", "kind", "country"]
    ordering = ["name", "id"]

    def get_queryset(self):
        return Account.objects.all()

    def create(self, request):
        serializer = AccountInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = services.add_account(
            membership=request.membership, actor=actor_of(request), **serializer.validated_data
        )
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        summary=_("Products"),
        description=_(
            "The products a registration's lines refer to. Partner users see active "
            "products; staff see every product."
        ),
        responses={200: ProductSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary=_("Show a product"), responses={200: ProductSerializer, **READ_ERRORS}
    ),
)
@extend_schema(tags=["products"])
class ProductViewSet(
    ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Product.objects
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    search_fields = ["name", "sku", "product_line"]
    ordering_fields = ["name", "sku", "product_line"]
    ordering = ["product_line", "name", "id"]

    def get_queryset(self):
        if can(membership_of(self.request), C.VIEW_ALL_PARTNERS):
            return Product.objects.all()
        return Product.objects.filter(is_active=True)
