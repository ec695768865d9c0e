"""Reading an import file: its encoding, separator, header row and limits, the
documented columns of each kind, and the stored file's rows for the preview.

Rows are numbered as a spreadsheet numbers them: the header is row 1, the
first data row row 2. Blank rows keep their number but are skipped.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from deals.models import CompanySize, ImportBatch
from prm.errors import DomainError

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Kind = ImportBatch.Kind

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
DELIMITERS = (",", ";", "\t")


class ImportFileError(DomainError):
    """The file as a whole cannot be imported; ``problems`` lists every reason."""

    code = "invalid_file"

    def __init__(self, *problems: StrOrPromise, code: str | None = None):
        self.problems = [str(problem) for problem in problems]
        super().__init__(self.problems[0], code=code, field="file")


# --- the columns of each kind ---------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    help: StrOrPromise
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.choices:
            return str(self.help) % {"choices": ", ".join(self.choices)}
        return str(self.help)


COUNTRY_HELP = _("Two-letter country code, like MY, CN or SG.")
WEBSITE_HELP = _("Website or domain, like example.com.")
LEAD_COLUMNS = (
    Column("company", True, _("The customer company's name.")),
    Column("contact_name", True, _("The contact's full name.")),
    Column("contact_email", True, _("The contact's e-mail address.")),
    Column("country", True, COUNTRY_HELP),
    Column("phone", False, _("The contact's phone number.")),
    Column("website", False, WEBSITE_HELP),
    Column("region", False, _("State, province or sales region.")),
    Column("industry", False, _("The customer's industry.")),
    Column("company_size", False, _("One of: %(choices)s."), tuple(CompanySize.values)),
    Column("estimated_amount", False, _("A plain number with a dot for decimals, like 12500.50.")),
    Column(
        "currency",
        False,
        _("Required with an amount. One of: %(choices)s."),
        tuple(settings.CURRENCIES),
    ),
    Column("source", False, _("Where the lead came from, like a campaign or an event.")),
    Column("notes", False, _("Anything the partner should know.")),
    Column("external_id", False, _("The lead's id in your own system; each id may appear once.")),
)
ACCOUNT_COLUMNS = (
    Column("name", True, _("The company's name.")),
    Column("domain", False, WEBSITE_HELP),
    Column("country", False, COUNTRY_HELP),
    Column("owner", False, _("Who owns the account in direct sales.")),
    Column(
        "external_id",
        False,
        _("The account's id in your own system; each id may appear once per kind of account."),
    ),
)


def columns_for(kind: str) -> tuple[Column, ...]:
    return LEAD_COLUMNS if kind == Kind.LEADS else ACCOUNT_COLUMNS


def template_csv(kind: str) -> str:
    """An empty file with the kind's header row (with a byte order mark, so
    spreadsheets open it as UTF-8)."""
    return "\ufeff" + ",".join(column.name for column in columns_for(kind)) + "\r\n"


# --- reading the file ---------------------------------------------------------------


def too_large_message(size: int, limit: int | None = None) -> str:
    """Why a file of ``size`` bytes is refused (``limit``: default ``MAX_BYTES``)."""
    return _("The file is %(size)s; files up to %(limit)s can be imported. Split it.") % {
        "size": filesizeformat(size),
        "limit": filesizeformat(MAX_BYTES if limit is None else limit),
    }


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (a byte order mark is dropped), or UTF-16 when a
    byte order mark says so."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportFileError(
                _("The file starts like UTF-16 text but is not valid UTF-16."), code="encoding"
            ) from None
    else:
        body = data.removeprefix(codecs.BOM_UTF8)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                _(
                    "The file is not UTF-8 text: line %(line)s holds bytes that are not "
                    "UTF-8. Save it as “CSV UTF-8” and upload it again."
                )
                % {"line": number_format(body.count(b"\n", 0, exc.start) + 1)},
                code="encoding",
            ) from None
    if "\x00" in text:
        raise ImportFileError(
            _(
                "The file holds NUL characters, so it is not CSV text. Save it as "
                "“CSV UTF-8” and upload it again."
            ),
            code="encoding",
        )
    return text


def sniff_delimiter(text: str) -> str:
    """The separator the header row uses most: comma, semicolon or tab."""
    header = text.lstrip("\r\n").split("\n", 1)[0]
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _header_name(cell: str) -> str:
    return cell.strip().strip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True)
class SourceRow:
    number: int  # as in a spreadsheet: the header is row 1
    cells: list[str]
    values: dict[str, str]  # by column name, stripped
    problems: list[str] = field(default_factory=list)  # about the row's shape


@dataclass(frozen=True)
class Table:
    names: list[str]  # each column's name in file order; "" for an unnamed column
    rows: Iterator[SourceRow]


def _unreadable(number: int) -> ImportFileError:
    return ImportFileError(
        _("Row %(row)s cannot be read as CSV: check its quotation marks.") % {"row": number},
        code="csv",
    )


def read_table(kind: str, text: str) -> Table:
    """Check the header row now; the rows follow lazily (too many rows, or
    unreadable CSV, raise ``ImportFileError`` while reading them)."""
    columns = columns_for(kind)
    expected = [column.name for column in columns]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    header: list[str] | None = None
    header_row = 0
    try:
        for record in reader:
            header_row += 1
            if any(cell.strip() for cell in record):
                header = record
                break
    except csv.Error:
        raise _unreadable(header_row + 1) from None
    if header is None:
        raise ImportFileError(_("The file is empty."), code="empty")
    names = [_header_name(cell) for cell in header]
    known = [name for name in names if name in expected]
    if not known:
        raise ImportFileError(
            _("The first row must name the columns, like %(columns)s.")
            % {"columns": ", ".join(c.name for c in columns if c.required)},
            code="no_header",
        )
    problems: list[StrOrPromise] = []
    unknown = [
        cell.strip()
        for cell, name in zip(header, names, strict=True)
        if name and name not in expected
    ]
    if unknown:
        problems.append(
            _("Unknown columns: %(unknown)s. The columns for %(kind)s are: %(expected)s.")
            % {
                "unknown": ", ".join(unknown),
                "kind": Kind(kind).label,
                "expected": ", ".join(expected),
            }
        )
    repeated = [name for name in expected if known.count(name) > 1]
    if repeated:
        problems.append(
            _("Columns named more than once: %(columns)s.") % {"columns": ", ".join(repeated)}
        )
    missing = [c.name for c in columns if c.required and c.name not in known]
    if missing:
        problems.append(
            _("Required columns are missing: %(columns)s.") % {"columns": ", ".join(missing)}
        )
    if problems:
        raise ImportFileError(*problems, code="columns")

    def rows() -> Iterator[SourceRow]:
        count, number = 0, header_row
        try:
            for number, cells in enumerate(reader, header_row + 1):
                if not any(cell.strip() for cell in cells):
                    continue
                count += 1
                if count > MAX_ROWS:
                    raise ImportFileError(
                        _("The file has more than %(limit)s rows. Split it into smaller files.")
                        % {"limit": number_format(MAX_ROWS)},
                        code="too_many_rows",
                    )
                problems = []
                if any(cell.strip() for cell in cells[len(names) :]):
                    problems.append(str(_("This row has more values than the header has columns.")))
                elif any(c.strip() for c, n in zip(cells, names, strict=False) if not n):
                    problems.append(str(_("This row has a value in a column without a name.")))
                values = {n: c.strip() for n, c in zip(names, cells, strict=False) if n}
                yield SourceRow(number, cells, values, problems)
        except csv.Error:
            raise _unreadable(number + 1) from None

    return Table(names, rows())


def read_rows_of(
    columns: tuple[Column, ...], text: str, *, max_rows: int = MAX_ROWS
) -> list[SourceRow]:
    """Every non-blank data row of a file with the given columns (the finance
    imports: payment results, revenue events), after checking the header row.
    A problem with the file as a whole raises ``ImportFileError`` with every
    reason. Unlike ``read_table`` it reads eagerly: these files are small."""
    expected = [column.name for column in columns]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
    number = 0
    rows: list[SourceRow] = []
    try:
        header: list[str] | None = None
        for cells in reader:
            number += 1
            if any(cell.strip() for cell in cells):
                header = cells
                break
        if header is None:
            raise ImportFileError(_("The file is empty."), code="empty")
        names = [_header_name(cell) for cell in header]
        problems: list[StrOrPromise] = []
        unknown = [
            cell.strip()
            for cell, name in zip(header, names, strict=True)
            if name and name not in expected
        ]
        if unknown:
            problems.append(
                _("Unknown columns: %(unknown)s. The columns are: %(expected)s.")
                % {"unknown": ", ".join(unknown), "expected": ", ".join(expected)}
            )
        repeated = [name for name in expected if names.count(name) > 1]
        if repeated:
            problems.append(
                _("Columns named more than once: %(columns)s.") % {"columns": ", ".join(repeated)}
            )
        missing = [c.name for c in columns if c.required and c.name not in names]
        if missing:
            problems.append(
                _("Required columns are missing: %(columns)s.") % {"columns": ", ".join(missing)}
            )
        if problems:
            raise ImportFileError(*problems, code="columns")
        header_row = number
        for number, cells in enumerate(reader, header_row + 1):
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= max_rows:
                raise ImportFileError(
                    _("The file has more than %(limit)s rows. Split it into smaller files.")
                    % {"limit": number_format(max_rows)},
                    code="too_many_rows",
                )
            row_problems = []
            if any(cell.strip() for cell in cells[len(names) :]):
                row_problems.append(str(_("This row has more values than the header has columns.")))
            values = {n: c.strip() for n, c in zip(names, cells, strict=False) if n}
            rows.append(SourceRow(number, cells, values, row_problems))
    except csv.Error:
        raise _unreadable(number + 1) from None
    if not rows:
        raise ImportFileError(_("The file has a header row but no data rows."), code="no_rows")
    return rows


# --- the preview page's rows --------------------------------------------------------


@dataclass(frozen=True)
class PreviewCell:
    value: str
    messages: list[str]


@dataclass(frozen=True)
class PreviewRow:
    number: int
    cells: list[PreviewCell]
    # Problems not about one of the file's columns: (column name or "", message).
    messages: list[tuple[str, str]]

    @property
    def valid(self) -> bool:
        return not self.messages and not any(cell.messages for cell in self.cells)


def preview_rows(
    batch: ImportBatch, *, invalid_only: bool = False, limit: int = 50
) -> tuple[list[str], list[PreviewRow]]:
    """The file's named columns and its first rows (or first invalid rows),
    each cell with the stored errors about it. Reads no more of the file than
    it shows."""
    if not batch.content:
        return [], []
    table = read_table(batch.kind, batch.content)
    by_row: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for error in batch.errors:
        by_row[error["row"]].append(error)
    named = [(index, name) for index, name in enumerate(table.names) if name]
    rows: list[PreviewRow] = []
    for row in table.rows:
        errors = by_row.get(row.number, [])
        if invalid_only and not errors:
            continue
        by_field: dict[str, list[str]] = defaultdict(list)
        for error in errors:
            by_field[error["field"]].append(error["message"])
        cells = [
            PreviewCell(
                row.cells[index].strip() if index < len(row.cells) else "",
                by_field.pop(name, []),
            )
            for index, name in named
        ]
        messages = [(name, message) for name, items in by_field.items() for message in items]
        rows.append(PreviewRow(row.number, cells, messages))
        if len(rows) >= limit:
            break
    return [name for _index, name in named], rows


def preview_of(
    rows: list[SourceRow],
    errors: list[dict[str, Any]],
    names: tuple[str, ...],
    *,
    limit: int = 200,
) -> tuple[list[str], list[PreviewRow]]:
    """The columns and the first of ``rows`` (read with ``read_rows_of``), each
    cell with the ``errors`` (``row``, ``field``, ``message``) about it,
    invalid rows first so problems are visible."""
    by_row: dict[int, dict[str, list[str]]] = {}
    for error in errors:
        by_row.setdefault(error["row"], {}).setdefault(error["field"], []).append(error["message"])
    ordered = sorted(rows, key=lambda row: (row.number not in by_row, row.number))
    shown = []
    for source in ordered[:limit]:
        fields = dict(by_row.get(source.number, {}))
        cells = [PreviewCell(source.values.get(name, ""), fields.pop(name, [])) for name in names]
        messages = [(name, message) for name, items in fields.items() for message in items]
        shown.append(PreviewRow(source.number, cells, messages))
    return list(names), shown
