"""A payout statement as a PDF: what the partner downloads and finance files.

``render_statement_pdf`` draws one closed statement with WeasyPrint from the
``incentives/statement_pdf.html`` template. Guarantees:

* **Language.** The whole document (labels, kinds, explanations, dates and
  numbers) is rendered under ``translation.override(language)``; callers pass
  the reader's language, by default the tenant's (``statement_language``).
  Numbers and dates go through Django's locale-aware formatting.
* **Real glyphs.** The stylesheet names the Noto CJK families (installed by
  ``prm/scripts/ensure-chromium.sh`` as Debian's ``fonts-noto-cjk``) before
  the generic fallback, so Chinese text is embedded as glyphs, not boxes.
* **Complete.** Every line of the statement is listed with its date, kind,
  deal or customer reference, explanation (``incentives.earnings.explain``),
  original amount, the rate and rate date when converted, and the converted
  amount; then the totals (carried in, earned, clawed back, adjustments,
  closing, payable, carried forward) and the status (held, blocked or paid
  with its reference).
* **Constant queries.** ``statement_for_pdf`` loads the statement, its period
  and partner in one query and all of its lines (with their transaction and
  the deal's reference) in one more, however many lines there are.
* **Scoped.** ``statement_for_pdf`` reads through the fail-closed tenant
  manager; given a partner it finds only that partner's statements, so
  another partner's id raises ``Statement.DoesNotExist`` like a missing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import CharField, OuterRef, Prefetch, Subquery
from django.template.loader import render_to_string
from django.utils import translation

from deals.models import DealRegistration
from incentives.earnings import ExplanationItem, explain
from incentives.models import RevenueEvent, Statement, StatementLine
from partners.models import PartnerOrganization
from prm.ledger.models import Kind, SourceType
from prm.tenancy.context import require_tenant

# Fonts tried in order for every piece of text; the Noto CJK families carry
# the Chinese glyphs and also cover Latin text.
FONT_FAMILIES = '"Noto Sans CJK SC", "Noto Serif CJK SC", sans-serif'


def lines_prefetch() -> Prefetch:
    """The statement's lines with their transaction, and the deal's reference or
    the revenue event's customer when the source belongs to the same partner."""
    deals = DealRegistration.objects.filter(
        pk=OuterRef("transaction__source_id"), partner_id=OuterRef("statement__partner_id")
    )
    events = RevenueEvent.objects.filter(
        pk=OuterRef("transaction__source_id"), partner_id=OuterRef("statement__partner_id")
    )
    queryset = (
        StatementLine.objects.select_related("transaction")
        .annotate(
            deal_reference=Subquery(
                deals.values("reference")[:1], output_field=CharField(max_length=40)
            ),
            deal_customer=Subquery(
                deals.values("customer_company")[:1], output_field=CharField(max_length=200)
            ),
            event_customer=Subquery(
                events.values("customer_name")[:1], output_field=CharField(max_length=200)
            ),
        )
        .order_by("effective_date", "id")
    )
    return Prefetch("lines", queryset=queryset)


def statement_for_pdf(*, pk: int, partner: PartnerOrganization | None = None) -> Statement:
    """One statement ready to draw (two queries). With ``partner``, only that
    partner's own statement is found; ``None`` is finance's tenant-wide read,
    which callers must have checked."""
    queryset = Statement.objects.select_related("period", "partner", "paid_by").prefetch_related(
        lines_prefetch()
    )
    if partner is not None:
        queryset = queryset.filter(partner=partner)
    return queryset.get(pk=pk)


def statement_language() -> str:
    """The language statements are drawn in when the reader asks for none: the
    tenant's default language."""
    return require_tenant().default_language


@dataclass(frozen=True)
class PdfLine:
    line: StatementLine
    kind: str
    source: str
    deal_reference: str
    customer: str
    explained: list[ExplanationItem]
    converted: bool


def _pdf_line(line: StatementLine) -> PdfLine:
    transaction = line.transaction
    kind = str(Kind(line.kind).label) if line.kind in Kind.values else line.kind
    source_type = transaction.source_type
    source = str(SourceType(source_type).label) if source_type in SourceType.values else source_type
    deal_reference = (
        getattr(line, "deal_reference", None) if source_type == SourceType.DEAL else None
    )
    if source_type == SourceType.DEAL:
        customer = getattr(line, "deal_customer", None) or ""
    elif source_type == SourceType.REVENUE_EVENT:
        customer = getattr(line, "event_customer", None) or ""
    else:
        customer = ""
    return PdfLine(
        line=line,
        kind=kind,
        source=source,
        deal_reference=deal_reference or "",
        customer=customer,
        explained=explain(
            line.explanation,
            currency=line.original_currency,
            kind=line.kind,
            memo=transaction.memo,
        ),
        converted=line.rate is not None,
    )


def render_statement_html(*, statement: Statement, language: str) -> str:
    """The statement as the HTML that becomes the PDF, in ``language``."""
    tenant = require_tenant()
    with translation.override(language):
        lines = [_pdf_line(line) for line in statement.lines.all()]
        return render_to_string(
            "incentives/statement_pdf.html",
            {
                "tenant": tenant,
                "statement": statement,
                "period": statement.period,
                "partner": statement.partner,
                "lines": lines,
                "status": statement.get_status_display(),
                "font_families": FONT_FAMILIES,
                "language": language,
            },
        )


def render_statement_pdf(*, statement: Statement, language: str) -> bytes:
    """The statement as PDF bytes, every word in ``language``. Load it with
    ``statement_for_pdf`` so drawing it runs no further queries."""
    from weasyprint import HTML  # heavy import, only when a PDF is drawn

    html = render_statement_html(statement=statement, language=language)
    return HTML(string=html).write_pdf()


def pdf_filename(statement: Statement) -> str:
    """``statement-<period>-<partner>.pdf`` with only ASCII letters, digits and
    dashes (a partner named in Chinese falls back to its id)."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", statement.partner.legal_name).strip("-").lower()
    partner = name[:60].strip("-") or f"partner-{statement.partner_id}"
    return f"statement-{statement.period.key}-{partner}.pdf"
