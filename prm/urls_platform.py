"""URLs served on the bare platform host: tenant provisioning for operators."""

from django.urls import include, path

from prm.accounts.views import email_managed
from prm.console.site import platform_site
from prm.views import health

urlpatterns = [
    path("accounts/email/", email_managed, name="email_managed"),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("health/", health, name="health"),
    path("", platform_site.urls),
]
