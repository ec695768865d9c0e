"""Language selection: the visitor's choice, else the tenant's default language.

Django's LocaleMiddleware prefers the browser's Accept-Language; a vendor's
portal should instead open in the language the vendor chose for its partners
until a person picks another one with the language switcher (a cookie).
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers

SUPPORTED = {code for code, _name in settings.LANGUAGES}


def language_for(request) -> str:
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    if chosen in SUPPORTED:
        return chosen
    tenant = getattr(request, "tenant", None)
    if tenant is not None and tenant.default_language in SUPPORTED:
        return tenant.default_language
    return settings.LANGUAGE_CODE


class TenantLocaleMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = language_for(request)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()
        patch_vary_headers(response, ("Cookie",))
        response.headers.setdefault("Content-Language", language)
        return response
