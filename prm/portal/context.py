"""Template context for the portal layout: the signed-in person's other portals.

``tenant_switcher`` has the shape of a context processor. The list is lazy, so
a page that never shows the switcher never queries it. ``render_page`` renders
a portal page with it.
"""

from __future__ import annotations

from django.shortcuts import render
from django.utils.functional import SimpleLazyObject

from partners.selectors import memberships_of_user


def tenant_switcher(request) -> dict:
    user = getattr(request, "user", None)
    return {"user_memberships": SimpleLazyObject(lambda: memberships_of_user(user=user))}


def render_page(request, template: str, context: dict, status: int = 200):
    return render(request, template, {**tenant_switcher(request), **context}, status=status)
