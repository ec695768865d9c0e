"""URLs served on a tenant's host: portal at /, console at /console/, API at /api/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("console/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("prm.portal.urls")),
]
