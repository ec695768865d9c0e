"""API routes: the OpenAPI schema, its two documentation pages and ``/api/v1/``.

The documentation pages load Swagger UI and Redoc from the vendored
``drf_spectacular_sidecar`` static files, so they work offline (no CDN).
"""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import SimpleRouter

import prm.api.schema  # noqa: F401  (registers the schema extensions)
from deals.api import (
    AccountViewSet,
    DealViewSet,
    ExtensionRequestViewSet,
    LeadViewSet,
    ProductViewSet,
    RegistrationViewSet,
)
from incentives.api import (
    EarningViewSet,
    PayoutPeriodViewSet,
    PlanViewSet,
    RevenueEventViewSet,
    StatementViewSet,
)
from partners.api import PartnerTypeViewSet, PartnerViewSet, TierViewSet
from prm.accounts.api import MeView, TokenViewSet, UserViewSet

router = SimpleRouter()
router.register("partners", PartnerViewSet, basename="partner")
router.register("tiers", TierViewSet, basename="tier")
router.register("partner-types", PartnerTypeViewSet, basename="partner-type")
router.register("users", UserViewSet, basename="user")
router.register("tokens", TokenViewSet, basename="token")
router.register("deals", DealViewSet, basename="deal")
router.register("registrations", RegistrationViewSet, basename="registration")
router.register("extension-requests", ExtensionRequestViewSet, basename="extension-request")
router.register("leads", LeadViewSet, basename="lead")
router.register("accounts", AccountViewSet, basename="account")
router.register("products", ProductViewSet, basename="product")
router.register("plans", PlanViewSet, basename="plan")
router.register("earnings", EarningViewSet, basename="earning")
router.register("revenue-events", RevenueEventViewSet, basename="revenue-event")
router.register("statements", StatementViewSet, basename="statement")
router.register("payout-periods", PayoutPeriodViewSet, basename="payout-period")

v1 = [
    path("me/", MeView.as_view(), name="me"),
    *router.urls,
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "redoc/",
        # Our template drops the upstream one's Google Fonts links.
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    path("v1/", include((v1, "api"))),
]
