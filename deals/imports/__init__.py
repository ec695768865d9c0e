"""CSV import of leads and of the vendor's accounts: upload, preview, import.

``preview_import`` reads an uploaded file (``files``: UTF-8 with or without a
byte order mark, or UTF-16 with one; comma-, semicolon- or tab-separated; a
header row naming the columns), validates every row (``rows``), and keeps the
text with each row's errors in an ``ImportBatch``. A problem with the file as
a whole (encoding, size, columns) raises ``ImportFileError`` and stores
nothing. ``commit_import`` validates the stored text again, because the
preview may be stale, and inserts the valid rows in one transaction or
nothing: a file with an invalid row is refused unless the user asked for the
valid rows only. Leads are built by ``deals.leads.build_lead`` and accounts
with the same normalisation as ``deals.services.import_account``, so matching
treats imported records like the ones created one by one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from deals.imports.files import (
    ACCOUNT_COLUMNS,
    LEAD_COLUMNS,
    MAX_BYTES,
    MAX_ROWS,
    Column,
    ImportFileError,
    PreviewCell,
    PreviewRow,
    columns_for,
    decode,
    preview_rows,
    template_csv,
    too_large_message,
)
from deals.imports.rows import validate_rows
from deals.leads import OPTIONAL_FIELDS, build_lead, new_lead_reference
from deals.models import Account, ImportBatch, Lead
from deals.normalize import normalize_company_name
from deals.services.customers import _aliases, company_domain
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.tenancy.context import require_tenant

__all__ = [
    "ACCOUNT_COLUMNS",
    "LEAD_COLUMNS",
    "MAX_BYTES",
    "MAX_ROWS",
    "Column",
    "ImportFileError",
    "PreviewCell",
    "PreviewRow",
    "columns_for",
    "commit_import",
    "discard_import",
    "preview_import",
    "preview_rows",
    "require_importer",
    "template_csv",
    "too_large_message",
]

Kind = ImportBatch.Kind
Status = ImportBatch.Status
INSERT_BATCH = 1000


# --- the services -------------------------------------------------------------------


def require_importer(membership) -> None:
    if not can(membership, Capability.MANAGE_PARTNERS):
        raise PermissionDenied(_("Only channel managers and tenant admins import files."))


def _clean_filename(filename: str) -> str:
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:255] or "import.csv"


def preview_import(*, membership, actor, kind: str, filename: str, data: bytes) -> ImportBatch:
    """Read and validate an uploaded file; keep it with its errors for review."""
    require_importer(membership)
    if kind not in Kind.values:
        raise DomainError(_("Choose what the file holds."), field="kind")
    if len(data) > MAX_BYTES:
        raise ImportFileError(too_large_message(len(data)), code="too_large")
    if not data:
        raise ImportFileError(_("The file is empty."), code="empty")
    text = decode(data)
    result = validate_rows(kind, text)
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            kind=kind,
            filename=_clean_filename(filename),
            content=text,
            row_count=result.row_count,
            valid_count=len(result.valid),
            errors=result.errors,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        record(
            actor=actor,
            action="importbatch.previewed",
            target=batch,
            summary=batch.filename,
            data={"kind": kind, "rows": batch.row_count, "valid": batch.valid_count},
        )
    return batch


def _lock_previewed(batch: ImportBatch) -> ImportBatch:
    locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    if locked.status == Status.IMPORTED:
        raise Conflict(_("This file was already imported."), code="already_imported")
    if locked.status == Status.DISCARDED:
        raise Conflict(
            _("This file was discarded. Upload it again to import it."), code="discarded"
        )
    return locked


def _unique_references(leads: list[Lead]) -> None:
    """References that no other lead, in the file or the database, has."""
    for _attempt in range(10):
        counts = Counter(lead.reference for lead in leads)
        taken = set(
            Lead.objects.filter(reference__in=list(counts)).values_list("reference", flat=True)
        )
        clashes = [lead for lead in leads if counts[lead.reference] > 1 or lead.reference in taken]
        if not clashes:
            return
        for lead in clashes:
            lead.reference = new_lead_reference()
    raise Conflict(_("Could not give the leads unique references. Try again."))


def _insert_leads(valid: list[dict[str, Any]], actor) -> list[int]:
    tenant = require_tenant()
    leads = []
    for data in valid:
        lead = build_lead(
            company=data["company"],
            contact_name=data["contact_name"],
            contact_email=data["contact_email"],
            country=data["country"],
            actor=actor,
            **{name: value for name, value in data.items() if name in OPTIONAL_FIELDS},
        )
        lead.tenant = tenant
        leads.append(lead)
    _unique_references(leads)
    Lead.objects.bulk_create(leads, batch_size=INSERT_BATCH)
    return [lead.pk for lead in leads]


def _insert_accounts(kind: str, valid: list[dict[str, Any]]) -> list[int]:
    """Accounts normalised exactly as ``services.import_account`` does."""
    tenant, aliases = require_tenant(), _aliases()
    accounts = [
        Account(
            tenant=tenant,
            kind=kind,
            name=data["name"].strip(),
            normalized_name=normalize_company_name(data["name"]),
            domain=company_domain(data["domain"], aliases=aliases),
            country=data["country"].upper(),
            owner=data["owner"],
            external_id=data["external_id"],
        )
        for data in valid
    ]
    Account.objects.bulk_create(accounts, batch_size=INSERT_BATCH)
    return [account.pk for account in accounts]


def commit_import(*, batch: ImportBatch, membership, actor, valid_only: bool) -> ImportBatch:
    """Import a previewed file: every row, or only its valid rows when the user
    chose so. Validated again from the stored text; all rows or none."""
    require_importer(membership)
    refusal: Conflict | None = None
    lead_ids: list[int] = []
    try:
        with transaction.atomic():
            locked = _lock_previewed(batch)
            result = validate_rows(locked.kind, locked.content)
            locked.row_count, locked.valid_count = result.row_count, len(result.valid)
            locked.errors = result.errors
            invalid = result.row_count - len(result.valid)
            if (invalid and not valid_only) or not result.valid:
                # Keep the fresh errors so the preview shows why.
                locked.save(update_fields=["row_count", "valid_count", "errors"])
                refusal = Conflict(
                    ngettext(
                        "%(count)s row of this file is invalid, so nothing was imported. Fix "
                        "it and upload the file again, or import the valid rows only.",
                        "%(count)s rows of this file are invalid, so nothing was imported. Fix "
                        "them and upload the file again, or import the valid rows only.",
                        invalid,
                    )
                    % {"count": number_format(invalid)}
                    if result.valid
                    else _("No row of this file is valid: there is nothing to import."),
                    code="invalid_rows",
                )
            else:
                if locked.kind == Kind.LEADS:
                    lead_ids = _insert_leads(result.valid, actor)
                    created = len(lead_ids)
                else:
                    created = len(_insert_accounts(locked.kind, result.valid))
                locked.status = Status.IMPORTED
                locked.imported_count = created
                locked.imported_at = timezone.now()
                locked.valid_only = valid_only
                locked.save(
                    update_fields=[
                        "row_count",
                        "valid_count",
                        "errors",
                        "status",
                        "imported_count",
                        "imported_at",
                        "valid_only",
                    ]
                )
                record(
                    actor=actor,
                    action="importbatch.imported",
                    target=locked,
                    summary=locked.filename,
                    data={
                        "kind": locked.kind,
                        "imported": created,
                        "skipped": invalid,
                        "valid_only": valid_only,
                    },
                )
    except IntegrityError:
        raise Conflict(
            _(
                "The database refused a row, perhaps one someone added a moment ago, so "
                "nothing was imported. Look at the preview again and retry."
            ),
            code="import_failed",
        ) from None
    if refusal is not None:
        raise refusal
    if lead_ids:
        from deals.leads import enqueue_routing

        enqueue_routing(lead_ids=lead_ids)
    return locked


def discard_import(*, batch: ImportBatch, membership, actor) -> ImportBatch:
    """Drop a previewed file without importing it. Its text (people's names and
    addresses) is deleted; the history keeps the file name and counts."""
    require_importer(membership)
    with transaction.atomic():
        locked = _lock_previewed(batch)
        locked.status = Status.DISCARDED
        locked.content = ""
        locked.errors = []
        locked.save(update_fields=["status", "content", "errors"])
        record(
            actor=actor,
            action="importbatch.discarded",
            target=locked,
            summary=locked.filename,
            data={"kind": locked.kind, "rows": locked.row_count},
        )
    return locked
