"""Statement PDF downloads: the partner's own, and finance's from the console.

* ``partner_statement_pdf`` (/earnings/statements/<id>.pdf): partner users
  only (staff get 403), and only their own organisation's statements —
  another partner's or another tenant's id is a 404, exactly like a missing
  one. Drawn in the reader's active language.
* ``console_statement_pdf`` (console): anyone who may read money
  (``VIEW_MONEY``: finance, tenant admin) downloads any statement of the
  tenant; everybody else gets 403. Drawn in the tenant's default language,
  the partner users' language.

Both (and the API's ``statements/<id>/pdf/``, through ``pdf_response``) accept
``?language=<code>`` (one of ``settings.LANGUAGES``) to draw the
statement in another language, answer ``application/pdf`` as an attachment
named ``statement-<period>-<partner>.pdf`` and run a fixed number of queries
however many lines the statement has.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.utils import translation
from django.views.decorators.http import require_GET

from incentives.models import Statement
from incentives.statement_pdf import (
    pdf_filename,
    render_statement_pdf,
    statement_for_pdf,
    statement_language,
)
from prm.accounts.roles import Capability, can


def requested_language(request, default: str) -> str:
    requested = request.GET.get("language", "")
    return requested if requested in dict(settings.LANGUAGES) else default


def pdf_response(statement: Statement, language: str) -> HttpResponse:
    response = HttpResponse(
        render_statement_pdf(statement=statement, language=language),
        content_type="application/pdf",
    )
    response["Content-Disposition"] = f'attachment; filename="{pdf_filename(statement)}"'
    return response


@login_required
@require_GET
def partner_statement_pdf(request, pk: int) -> HttpResponse:
    membership = request.membership
    if not can(membership, Capability.USE_PORTAL) or not membership.partner_id:
        raise PermissionDenied
    try:
        statement = statement_for_pdf(pk=pk, partner=membership.partner)
    except Statement.DoesNotExist as missing:
        raise Http404 from missing
    return pdf_response(statement, requested_language(request, translation.get_language()))


@login_required
@require_GET
def console_statement_pdf(request, pk: int) -> HttpResponse:
    if not can(getattr(request, "membership", None), Capability.VIEW_MONEY):
        raise PermissionDenied
    try:
        statement = statement_for_pdf(pk=pk)
    except Statement.DoesNotExist as missing:
        raise Http404 from missing
    return pdf_response(statement, requested_language(request, statement_language()))
