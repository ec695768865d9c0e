"""URLs served on a tenant's host: portal at /, console at /console/, API at /api/."""

from django.contrib import admin
from django.urls import include, path

from prm.views import health

urlpatterns = [
    path("health/", health, name="health"),
    path("console/", admin.site.urls),
    path("accounts/", include("prm.accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("prm.api.urls")),
    path("deals/", include("deals.urls")),
    path("leads/", include("deals.lead_urls")),
    path("notifications/", include("prm.notifications.urls")),
    path("payee/", include("partners.payee_urls")),
    path("earnings/", include("incentives.urls")),
    path("", include("prm.portal.urls")),
]
